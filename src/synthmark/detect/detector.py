"""The real-vs-generated detector: preprocessing, tiles, features, a head, calibration, threshold.

:class:`Detector` follows scikit-learn's conventions on images instead of arrays:
``__init__`` only stores parameters, ``fit`` learns, fitted attributes end in ``_``.

* ``classes_`` is ``["real", "generated"]``; ``predict_proba`` columns follow it, so column
  1 is P(generated). ``fit`` accepts labels as those strings or as 0/1 (1 = generated).
* ``threshold_`` is the operating threshold on P(generated), chosen on out-of-fold
  validation scores for ``target_fpr`` false positives on real images; ``predict`` uses it,
  and nothing retunes it afterwards.

How ``fit`` works:

1. every image is preprocessed (grid-aligned crop, canonical JPEG re-encoding) and cut into
   grid-aligned ``tile`` x ``tile`` tiles (at most ``max_tiles``, evenly spread);
2. the extractor computes one feature row per tile; a learned extractor is trained first,
   on the training part of a group split;
3. the head is fitted on tiles, each image weighing the same whatever its tile count, each
   class half and each source an equal share of its class (:func:`balanced_weights`);
4. out-of-fold image scores (mean tile decision), from ``cv`` folds that never split a
   near-duplicate group (``cv_by="source"``: folds that hold whole sources out, see
   :mod:`synthmark.detect.validation`), fit a sigmoid calibration and fix ``threshold_``;
5. the head is refitted on all images (weight-free and frozen extractors), so nothing is
   wasted.

:meth:`Detector.fit_features` runs steps 3-5 on features computed beforehand (a cache).
A fitted detector is its parameters plus a state (:meth:`Detector._to_state`: JSON and named
arrays); :mod:`synthmark.detect.storage` writes and reads the files, nothing more.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image
from sklearn.base import BaseEstimator

from synthmark.detect.card import ModelCard
from synthmark.detect.data import (
    CLASS_NAMES,
    Lazy,
    Subset,
    balanced_weights,
    encode_labels,
    map_images,
)
from synthmark.detect.extractors import FeatureExtractor, create_extractor, extractor_spec
from synthmark.detect.heads import head_from_arrays
from synthmark.detect.preprocess import GRID, Preprocess, check_texture, grid_tiles
from synthmark.detect.validation import (
    calibration,
    check_validation_params,
    fit_head,
    flagged_by_source,
    image_decision,
    operating_threshold,
    out_of_fold,
    sigmoid,
    training_inputs,
    validation_folds,
)
from synthmark.errors import UsageError

Progress = Callable[[str, int, int], None]


@dataclass
class ImageFeatures:
    """Tile features of one image (``tiles`` rows), as cached by ``synthmark eval``."""

    tiles: NDArray[np.float32]


class Detector(BaseEstimator):
    """Learns real vs generated from images; see the module docstring for the procedure.

    Args:
        extractor: registered feature extractor name (``a+b`` concatenates).
        extractor_params: constructor parameters of the extractor.
        head: ``logistic`` (default) or ``novelty`` (distance from real images).
        head_params: constructor parameters of the head.
        canonical_quality: JPEG quality every image is re-encoded at (None: no re-encoding).
        max_side: larger images are centre-cropped (grid-aligned) to this many pixels.
        tile: side of the square tiles features are computed on (multiple of 8).
        max_tiles: at most this many tiles per image, evenly spread.
        tile_multiple: a tile smaller than ``tile`` has a side that is a multiple of this
            (8; 32 for a network with five stride-2 layers, so that its export is exact).
        target_fpr: false-positive rate on real validation images the threshold is set for.
        threshold_by: ``pooled`` (target FPR over all real validation images) or ``source``
            (at most the target FPR on each real source; see ``operating_threshold``).
        cv: validation folds (grouped) for calibration and threshold.
        cv_by: ``group`` (folds split by near-duplicate group) or ``source`` (each fold
            holds whole sources out); see :mod:`synthmark.detect.validation`.
        validation_fraction: share of groups held out when the extractor is trainable.
        n_jobs: threads used to compute features (1: no threads).
        random_state: seed of everything random.
    """

    def __init__(
        self,
        extractor: str = "grid",
        extractor_params: dict[str, Any] | None = None,
        head: str = "logistic",
        head_params: dict[str, Any] | None = None,
        canonical_quality: int | None = 75,
        max_side: int = 1024,
        tile: int = 256,
        max_tiles: int = 16,
        tile_multiple: int = GRID,
        target_fpr: float = 0.05,
        threshold_by: str = "pooled",
        cv: int = 5,
        cv_by: str = "group",
        validation_fraction: float = 0.25,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.extractor = extractor
        self.extractor_params = extractor_params
        self.head = head
        self.head_params = head_params
        self.canonical_quality = canonical_quality
        self.max_side = max_side
        self.tile = tile
        self.max_tiles = max_tiles
        self.tile_multiple = tile_multiple
        self.target_fpr = target_fpr
        self.threshold_by = threshold_by
        self.cv = cv
        self.cv_by = cv_by
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- parameters ---------------------------------------------------------------------

    def set_params(self, **params: Any) -> Detector:
        """Set constructor parameters (scikit-learn style); an unknown name is a UsageError."""
        valid = self.get_params()
        for key in params:
            if key not in valid:
                raise UsageError(f"unknown parameter {key!r}; known: {', '.join(sorted(valid))}")
        super().set_params(**params)
        return self

    def _check_params(self) -> None:
        if self.tile % GRID or self.tile < 2 * GRID:
            raise UsageError(
                f"tile must be a multiple of {GRID} and >= {2 * GRID}, got {self.tile}"
            )
        if self.tile_multiple % GRID or self.tile % self.tile_multiple:
            raise UsageError(
                f"tile_multiple must be a multiple of {GRID} dividing tile, got "
                f"{self.tile_multiple} for tile {self.tile}"
            )
        if self.max_tiles < 1:
            raise UsageError(f"max_tiles must be >= 1, got {self.max_tiles}")
        check_validation_params(
            self.target_fpr, self.threshold_by, self.cv, self.cv_by, self.validation_fraction
        )

    @property
    def preprocess(self) -> Preprocess:
        """The preprocessing step every image goes through."""
        return Preprocess(quality=self.canonical_quality, max_side=self.max_side, min_side=2 * GRID)

    # -- tiles and features ---------------------------------------------------------------

    def tiles(self, image: Image.Image) -> list[Image.Image]:
        """The canonical, grid-aligned tiles of ``image`` that features are computed on.

        An image smaller than ``tile`` gives one square tile of its largest grid-aligned side.
        """
        return grid_tiles(self.preprocess(image), self.tile, self.max_tiles, self.tile_multiple)

    def check_applicable(self, image: Image.Image) -> None:
        """Raise :class:`~synthmark.errors.OutsideDomain` for an image without the texture
        the detector reads (blank, flat graphics, screenshots); see
        :func:`~synthmark.detect.preprocess.check_texture`. ``predict_proba`` does not call
        it, so evaluations see the raw classifier; screening and ``detect predict`` do."""
        check_texture(self.preprocess(image))

    def _features_one(self, extractor: FeatureExtractor, image: Image.Image) -> ImageFeatures:
        return ImageFeatures(tiles=extractor.transform(self.tiles(image)))

    def _map(
        self,
        fn: Callable[[Image.Image], ImageFeatures],
        images: Sequence[Image.Image],
        progress: Progress | None,
        what: str,
    ) -> list[ImageFeatures]:
        jobs = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        return map_images(fn, images, jobs, progress, what or "features")

    def features(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> list[ImageFeatures]:
        """Tile features of each image, for :meth:`proba_from_features` (cacheable)."""
        ext = self._fitted("extractor_")
        return self._map(lambda im: self._features_one(ext, im), images, progress, "features")

    def new_extractor(self) -> FeatureExtractor:
        """A fresh (unfitted) extractor built from the parameters."""
        return create_extractor(self.extractor, self.extractor_params)

    # -- fitting --------------------------------------------------------------------------

    def _prepare(
        self,
        n_images: int,
        labels: ArrayLike,
        groups: Sequence[str] | None,
        sources: Sequence[str] | None,
    ) -> tuple[NDArray[np.int_], NDArray[Any], NDArray[Any]]:
        self._check_params()
        return training_inputs(n_images, encode_labels(labels), groups, sources, self.cv)

    def fit(
        self,
        images: Sequence[Image.Image],
        labels: ArrayLike,
        groups: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        progress: Progress | None = None,
    ) -> Detector:
        """Fit on images and labels (``"real"``/``"generated"`` or 0/1).

        ``groups`` (near-duplicate groups) keep twins on one side of every validation split;
        ``sources`` (data-set names) balance the weights inside each class and, with
        ``cv_by="source"``, make the folds. Both default to one per image / one overall.
        """
        started = time.perf_counter()
        y, grp, src = self._prepare(len(images), labels, groups, sources)
        extractor = self.new_extractor()
        if extractor.trainable:
            return self._fit_trainable(images, y, grp, src, extractor, progress, started)
        feats = self._map(lambda im: self._features_one(extractor, im), images, progress, "")
        return self.fit_features(feats, y, grp.tolist(), src.tolist(), progress, extractor, started)

    def _fit_trainable(
        self,
        images: Sequence[Image.Image],
        y: NDArray[np.int_],
        grp: NDArray[Any],
        src: NDArray[Any],
        extractor: FeatureExtractor,
        progress: Progress | None,
        started: float,
    ) -> Detector:
        """A learned extractor: trained on a group split, validated on the rest."""
        from sklearn.model_selection import GroupShuffleSplit

        n = len(y)
        split = GroupShuffleSplit(
            1, test_size=self.validation_fraction, random_state=self.random_state
        )
        train_idx, val_idx = next(split.split(np.zeros(n), y, grp))
        if len(np.unique(y[val_idx])) < 2 or len(np.unique(y[train_idx])) < 2:
            raise UsageError("the validation split lacks a class; give more images or groups")
        extractor.fit(Subset(Lazy(images, self.preprocess), train_idx), y[train_idx])
        feats = self._map(lambda im: self._features_one(extractor, im), images, progress, "")
        tiles = [f.tiles for f in feats]
        weights = balanced_weights(y, src.tolist())
        head = fit_head(self.head, self.head_params, tiles, y, weights, train_idx, src)
        oof = np.full(n, np.nan)
        oof[val_idx] = [image_decision(head, tiles[i]) for i in val_idx]
        note = f"group hold-out: {len(val_idx)} of {n} images never seen in training"
        self._finish(extractor, head, tiles, y, src, grp, oof, note, started)
        return self

    def fit_features(
        self,
        feats: Sequence[ImageFeatures],
        labels: ArrayLike,
        groups: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        progress: Progress | None = None,
        extractor: FeatureExtractor | None = None,
        started: float | None = None,
    ) -> Detector:
        """Fit the head, calibration and threshold on features computed beforehand by
        :meth:`features` of a detector with the same feature parameters (weight-free or
        frozen extractors only)."""
        started = time.perf_counter() if started is None else started
        y, grp, src = self._prepare(len(feats), labels, groups, sources)
        extractor = extractor if extractor is not None else self.new_extractor()
        if extractor.trainable:
            raise UsageError("fit_features needs a weight-free or frozen extractor; use fit()")
        tiles = [np.asarray(f.tiles, dtype=np.float32) for f in feats]
        weights = balanced_weights(y, src.tolist())
        folds = validation_folds(
            y, grp.tolist(), src.tolist(), self.cv, self.cv_by, self.random_state
        )

        def fit(idx: NDArray[np.int_]) -> Any:
            return fit_head(self.head, self.head_params, tiles, y, weights, idx, src)

        oof = out_of_fold(fit, tiles, folds, progress)
        head = fit(np.arange(len(y)))
        if self.cv_by == "source":
            note = f"{len(folds)}-fold out-of-fold scores, each fold holding whole sources out"
        else:
            note = f"{len(folds)}-fold out-of-fold scores, folds split by near-duplicate group"
        self._finish(extractor, head, tiles, y, src, grp, oof, note, started)
        return self

    def _finish(
        self,
        extractor: FeatureExtractor,
        head: Any,
        tiles: list[NDArray[np.float32]],
        y: NDArray[np.int_],
        src: NDArray[Any],
        grp: NDArray[Any],
        oof: NDArray[np.float64],
        note: str,
        started: float,
    ) -> None:
        from synthmark.jsonutil import to_jsonable
        from synthmark.metrics import detector_metrics

        seen = np.flatnonzero(np.isfinite(oof))
        weights = balanced_weights(y, src.tolist())
        self.card_: ModelCard | None = None
        self.extractor_ = extractor
        self.head_ = head
        self.classes_ = np.asarray(CLASS_NAMES)
        self.n_features_in_ = int(tiles[0].shape[1])
        self.calibration_ = calibration(oof[seen], y[seen], weights[seen])
        p_val = self._calibrated(oof[seen])
        #: Out-of-fold P(generated) of the training images (NaN where not validated); kept in
        #: memory for analyses such as the content-matched check, never saved.
        self.oof_proba_ = np.full(len(y), np.nan)
        self.oof_proba_[seen] = p_val
        self.threshold_ = operating_threshold(
            p_val, y[seen], src[seen], self.target_fpr, self.threshold_by
        )
        val = detector_metrics(
            y[seen], p_val, self.threshold_, n_boot=200, random_state=self.random_state
        )
        self.validation_ = {"method": note, **to_jsonable(val)}
        by_source = flagged_by_source(src[seen], y[seen], p_val, self.threshold_)
        self.validation_["by_source"] = by_source
        counts = np.bincount(y, minlength=2)
        self.training_summary_ = {
            "n_images": len(y),
            "n_real": int(counts[0]),
            "n_generated": int(counts[1]),
            "sources": {str(s): int((src == s).sum()) for s in np.unique(src)},
            "n_groups": len(np.unique(grp)),
            "seconds": time.perf_counter() - started,
        }

    def _calibrated(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = self.calibration_
        return sigmoid(a * np.asarray(decision, dtype=np.float64) + b)

    # -- prediction -----------------------------------------------------------------------

    def _fitted(self, name: str) -> Any:
        value = getattr(self, name, None)
        if value is None:
            raise UsageError("this detector is not fitted: call fit() or load a saved model")
        return value

    def decision_from_features(self, feats: Sequence[ImageFeatures]) -> NDArray[np.float64]:
        """Uncalibrated image scores (mean tile decision of the head)."""
        head = self._fitted("head_")
        return np.array([image_decision(head, f.tiles) for f in feats], dtype=np.float64)

    def proba_from_features(self, feats: Sequence[ImageFeatures]) -> NDArray[np.float64]:
        """``predict_proba`` from cached :meth:`features`."""
        p = self._calibrated(self.decision_from_features(feats))
        return np.column_stack([1.0 - p, p])

    def decision_function(self, images: Sequence[Image.Image]) -> NDArray[np.float64]:
        """Uncalibrated scores; higher means more likely generated."""
        return self.decision_from_features(self.features(images))

    def predict_proba(self, images: Sequence[Image.Image]) -> NDArray[np.float64]:
        """Shape (n, 2); columns follow ``classes_`` (``["real", "generated"]``)."""
        return self.proba_from_features(self.features(images))

    def predict(self, images: Sequence[Image.Image]) -> NDArray[np.str_]:
        """``"generated"`` where P(generated) >= ``threshold_``, else ``"real"``."""
        p = self.predict_proba(images)[:, 1]
        classes: NDArray[np.str_] = self._fitted("classes_")
        return classes[(p >= self.threshold_).astype(np.int_)]

    # -- state and persistence --------------------------------------------------------------

    def _to_state(self) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
        """The fitted detector as JSON-ready parameters and named arrays (no card)."""
        head = self._fitted("head_")
        extractor = self._fitted("extractor_")
        arrays: dict[str, NDArray[Any]] = {}
        for k, v in head.to_arrays().items():
            if k != "classes_":
                arrays[f"head.{k}"] = np.ascontiguousarray(v)
        for k, v in extractor.state_arrays().items():
            arrays[f"extractor.{k}"] = np.ascontiguousarray(v)
        config = {
            "params": self.get_params(),
            "extractor": {"spec": extractor_spec(extractor), "params": extractor.get_params()},
            "head": {
                "name": self.head,
                "params": head.get_params(),
                "classes": [int(c) for c in head.classes_],
            },
            "classes": [str(c) for c in self.classes_],
            "threshold": float(self.threshold_),
            "calibration": [float(x) for x in self.calibration_],
            "n_features": int(self.n_features_in_),
            "validation": getattr(self, "validation_", {}),
            "training": getattr(self, "training_summary_", {}),
        }
        return config, arrays

    @classmethod
    def _from_state(cls, config: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> Detector:
        """Inverse of :meth:`_to_state` (raises KeyError/TypeError/ValueError when incomplete)."""
        det = cls(**config["params"])
        head_arrays = {k[len("head.") :]: v for k, v in arrays.items() if k.startswith("head.")}
        head_arrays["classes_"] = np.asarray(config["head"]["classes"])
        det.head_ = head_from_arrays(config["head"]["name"], config["head"]["params"], head_arrays)
        ext = create_extractor(config["extractor"]["spec"], config["extractor"]["params"])
        ext.load_state_arrays(
            {k[len("extractor.") :]: v for k, v in arrays.items() if k.startswith("extractor.")}
        )
        det.extractor_ = ext
        det.classes_ = np.asarray(config["classes"])
        det.threshold_ = float(config["threshold"])
        det.calibration_ = np.asarray(config["calibration"], dtype=np.float64)
        det.n_features_in_ = int(config["n_features"])
        det.validation_ = config.get("validation", {})
        det.training_summary_ = config.get("training", {})
        if "card" in config:
            det.card = ModelCard.from_dict(config["card"])
        return det

    def save(self, path: str | os.PathLike[str], card: ModelCard | None = None) -> Path:
        """Write ``detector.json``, ``detector.safetensors`` and ``MODEL_CARD.md`` into ``path``."""
        from synthmark.detect.storage import write_model

        card = card or self.card
        config, arrays = self._to_state()
        config["card"] = card.to_dict()
        return write_model(Path(path), config, arrays, card.to_markdown())

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Detector:
        """Load a detector saved with :meth:`save` (never unpickles); ``None``: the default."""
        from synthmark.detect.storage import read_model

        saved = read_model(path)
        try:
            return cls._from_state(saved.config, saved.arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"{saved.folder}: incomplete or inconsistent detector files ({exc!r})"
            ) from None

    @property
    def card(self) -> ModelCard:
        """The model card: loaded with the model, or built from the fit."""
        stored = getattr(self, "card_", None)
        if stored is None:
            self._fitted("head_")
            stored = self.card_ = ModelCard.from_fit(
                extractor=extractor_spec(self.extractor_),
                extractor_description=self.extractor_.describe(),
                head=self.head,
                preprocessing=(
                    f"centre crop to at most {self.max_side}px (offsets on the 8px grid, no "
                    f"resize), JPEG q{self.canonical_quality} re-encoding, tiles of {self.tile}px "
                    f"(at most {self.max_tiles}), image score = mean tile decision"
                ),
                summary=getattr(self, "training_summary_", {}),
                threshold=float(self.threshold_),
                target_fpr=float(self.target_fpr),
                threshold_by=self.threshold_by,
                validation=dict(getattr(self, "validation_", {})),
            )
        return stored

    @card.setter
    def card(self, value: ModelCard) -> None:
        self.card_ = value


__all__ = ["Detector", "ImageFeatures"]
