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
   near-duplicate group, fit a sigmoid calibration and fix ``threshold_``;
5. the head is refitted on all images (weight-free extractors), so nothing is wasted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from synthmark.detect.card import DataSource, ModelCard, library_versions
from synthmark.detect.data import CLASS_NAMES, balanced_weights
from synthmark.detect.extractors import FeatureExtractor, create_extractor, extractor_spec
from synthmark.detect.heads import create_head
from synthmark.detect.preprocess import GRID, Preprocess, check_texture
from synthmark.errors import UsageError

Progress = Callable[[str, int, int], None]


@dataclass
class ImageFeatures:
    """Tile features of one image (``tiles`` rows), as cached by ``synthmark eval``."""

    tiles: NDArray[np.float32]


def _encode_labels(labels: ArrayLike) -> NDArray[np.int_]:
    raw = np.asarray(labels)
    if raw.ndim != 1:
        raise UsageError(f"labels must be 1-D, got shape {raw.shape}")
    if raw.dtype.kind in "USO":
        lookup = {"real": 0, "generated": 1, "fake": 1}
        bad = sorted({str(v) for v in raw.tolist() if str(v).lower() not in lookup})
        if bad:
            raise UsageError(f"unknown labels {bad[:5]}; use 'real'/'generated' or 0/1")
        return np.asarray([lookup[str(v).lower()] for v in raw.tolist()], dtype=np.int_)
    values = set(np.unique(raw).tolist())
    if not values <= {0, 1}:
        raise UsageError(f"labels must be 0 (real) / 1 (generated), got {sorted(values)[:5]}")
    return raw.astype(np.int_)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


class Detector:
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
        target_fpr: false-positive rate on real validation images the threshold is set for.
        cv: validation folds (grouped) for calibration and threshold.
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
        target_fpr: float = 0.05,
        cv: int = 5,
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
        self.target_fpr = target_fpr
        self.cv = cv
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- parameters ---------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {
            "extractor": self.extractor,
            "extractor_params": self.extractor_params,
            "head": self.head,
            "head_params": self.head_params,
            "canonical_quality": self.canonical_quality,
            "max_side": self.max_side,
            "tile": self.tile,
            "max_tiles": self.max_tiles,
            "target_fpr": self.target_fpr,
            "cv": self.cv,
            "validation_fraction": self.validation_fraction,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }

    def set_params(self, **params: Any) -> Detector:
        """Set constructor parameters (scikit-learn style)."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise UsageError(f"unknown parameter {key!r}; known: {', '.join(sorted(valid))}")
            setattr(self, key, value)
        return self

    def _check_params(self) -> None:
        if self.tile % GRID or self.tile < 2 * GRID:
            raise UsageError(
                f"tile must be a multiple of {GRID} and >= {2 * GRID}, got {self.tile}"
            )
        if self.max_tiles < 1:
            raise UsageError(f"max_tiles must be >= 1, got {self.max_tiles}")
        if not 0.0 <= self.target_fpr < 1.0:
            raise UsageError(f"target_fpr must lie in [0, 1), got {self.target_fpr}")
        if self.cv < 2:
            raise UsageError(f"cv must be >= 2, got {self.cv}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise UsageError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction}"
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
        canon = self.preprocess(image)
        w, h = canon.size
        side = min(self.tile, (min(w, h) // GRID) * GRID)
        xs = list(range(0, w - side + 1, side))
        ys = list(range(0, h - side + 1, side))
        # Centre the tile grid on the image, keeping offsets on the 8-pixel grid.
        dx = ((w - (xs[-1] + side)) // 2) // GRID * GRID
        dy = ((h - (ys[-1] + side)) // 2) // GRID * GRID
        boxes = [(x + dx, y + dy, x + dx + side, y + dy + side) for y in ys for x in xs]
        if len(boxes) > self.max_tiles:
            keep = np.linspace(0, len(boxes) - 1, self.max_tiles).round().astype(int)
            boxes = [boxes[i] for i in keep]
        return [canon.crop(b) for b in boxes]

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
        n = len(images)
        out: list[ImageFeatures] = []
        jobs = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
        if jobs == 1 or n < 2:
            for i in range(n):
                out.append(fn(images[i]))
                if progress:
                    progress(what, i + 1, n)
            return out
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for i, res in enumerate(pool.map(lambda k: fn(images[k]), range(n))):
                out.append(res)
                if progress:
                    progress(what, i + 1, n)
        return out

    def features(
        self, images: Sequence[Image.Image], progress: Progress | None = None
    ) -> list[ImageFeatures]:
        """Tile features of each image, for :meth:`proba_from_features` (cacheable)."""
        ext = self._fitted("extractor_")
        return self._map(lambda im: self._features_one(ext, im), images, progress, "features")

    # -- fitting --------------------------------------------------------------------------

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
        ``sources`` (data-set names) balance the weights inside each class. Both default to
        one per image / one overall.
        """
        from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

        self._check_params()
        started = time.perf_counter()
        y = _encode_labels(labels)
        n = len(y)
        if len(images) != n:
            raise UsageError(f"{len(images)} images but {n} labels")
        counts = np.bincount(y, minlength=2)
        if counts.min() < self.cv:
            raise UsageError(
                f"need at least cv={self.cv} images of each class, got {counts[0]} real and "
                f"{counts[1]} generated"
            )
        grp = np.asarray(groups if groups is not None else [str(i) for i in range(n)])
        src = np.asarray(sources if sources is not None else ["all"] * n)
        if len(grp) != n or len(src) != n:
            raise UsageError(f"groups/sources must have one entry per image ({n})")
        weights = balanced_weights(y, src.tolist())
        extractor = create_extractor(self.extractor, self.extractor_params)

        if extractor.trainable:
            split = GroupShuffleSplit(
                1, test_size=self.validation_fraction, random_state=self.random_state
            )
            train_idx, val_idx = next(split.split(np.zeros(n), y, grp))
            if len(np.unique(y[val_idx])) < 2 or len(np.unique(y[train_idx])) < 2:
                raise UsageError("the validation split lacks a class; give more images or groups")
            canon = _Canonical(images, self.preprocess)
            extractor.fit(_Subset(canon, train_idx), y[train_idx])
            feats = self._map(
                lambda im: self._features_one(extractor, im), images, progress, "features"
            )
            head = self._fit_head(feats, y, weights, train_idx)
            val_scores = np.array([self._image_decision(head, feats[i]) for i in val_idx])
            oof_idx, oof = val_idx, val_scores
            validation_note = f"group hold-out: {len(val_idx)} of {n} images never seen in training"
        else:
            feats = self._map(
                lambda im: self._features_one(extractor, im), images, progress, "features"
            )
            folds = StratifiedGroupKFold(
                n_splits=self.cv, shuffle=True, random_state=self.random_state
            )
            oof = np.zeros(n)
            for k, (tr, va) in enumerate(folds.split(np.zeros(n), y, grp)):
                h = self._fit_head(feats, y, weights, tr)
                oof[va] = [self._image_decision(h, feats[i]) for i in va]
                if progress:
                    progress("validation folds", k + 1, self.cv)
            oof_idx = np.arange(n)
            head = self._fit_head(feats, y, weights, oof_idx)
            validation_note = (
                f"{self.cv}-fold out-of-fold scores, folds split by near-duplicate group"
            )

        self.card_: ModelCard | None = None
        self.extractor_ = extractor
        self.head_ = head
        self.classes_ = np.asarray(CLASS_NAMES)
        self.n_features_in_ = int(feats[0].tiles.shape[1])
        self._calibrate(oof, y[oof_idx], weights[oof_idx])
        from synthmark.metrics import detector_metrics, threshold_at_fpr

        p_val = self._calibrated(oof)
        #: Out-of-fold P(generated) of the training images (NaN where not validated); kept in
        #: memory for analyses such as the content-matched check, never saved.
        self.oof_proba_ = np.full(n, np.nan)
        self.oof_proba_[oof_idx] = p_val
        self.threshold_ = float(threshold_at_fpr(p_val[y[oof_idx] == 0], self.target_fpr))
        val = detector_metrics(
            y[oof_idx], p_val, self.threshold_, n_boot=200, random_state=self.random_state
        )
        self.validation_ = {"method": validation_note, **_metrics_dict(val)}
        by_source = {}
        for s in np.unique(src[oof_idx]):
            m = src[oof_idx] == s
            label = int(y[oof_idx][m][0])
            rate = float((p_val[m] >= self.threshold_).mean())
            by_source[str(s)] = {"label": CLASS_NAMES[label], "n": int(m.sum()), "flagged": rate}
        self.validation_["by_source"] = by_source
        self.training_summary_ = {
            "n_images": n,
            "n_real": int(counts[0]),
            "n_generated": int(counts[1]),
            "sources": {str(s): int((src == s).sum()) for s in np.unique(src)},
            "n_groups": len(np.unique(grp)),
            "seconds": time.perf_counter() - started,
        }
        return self

    def _fit_head(
        self,
        feats: list[ImageFeatures],
        y: NDArray[np.int_],
        weights: NDArray[np.float64],
        idx: NDArray[np.int_],
    ) -> Any:
        X = np.concatenate([feats[i].tiles for i in idx]).astype(np.float64)
        yt = np.concatenate([np.full(len(feats[i].tiles), y[i]) for i in idx])
        wt = np.concatenate(
            [np.full(len(feats[i].tiles), weights[i] / len(feats[i].tiles)) for i in idx]
        )
        head = create_head(self.head, self.head_params)
        head.fit(X, yt, sample_weight=wt * (len(wt) / wt.sum()))
        return head

    @staticmethod
    def _image_decision(head: Any, feats: ImageFeatures) -> float:
        return float(np.mean(head.decision_function(feats.tiles.astype(np.float64))))

    def _calibrate(
        self, scores: NDArray[np.float64], y: NDArray[np.int_], w: NDArray[np.float64]
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000)
        lr.fit(scores[:, None], y, sample_weight=w * (len(w) / w.sum()))
        self.calibration_ = np.array([float(lr.coef_.ravel()[0]), float(lr.intercept_[0])])

    def _calibrated(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        a, b = self.calibration_
        return _sigmoid(a * np.asarray(decision, dtype=np.float64) + b)

    # -- prediction -----------------------------------------------------------------------

    def _fitted(self, name: str) -> Any:
        value = getattr(self, name, None)
        if value is None:
            raise UsageError("this detector is not fitted: call fit() or load a saved model")
        return value

    def decision_from_features(self, feats: Sequence[ImageFeatures]) -> NDArray[np.float64]:
        """Uncalibrated image scores (mean tile decision of the head)."""
        head = self._fitted("head_")
        return np.array([self._image_decision(head, f) for f in feats], dtype=np.float64)

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

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], card: ModelCard | None = None) -> Path:
        """Write ``detector.json``, ``detector.safetensors`` and ``MODEL_CARD.md`` into ``path``."""
        from synthmark.detect.storage import save_detector

        return save_detector(self, Path(path), card or self.card)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detector:
        """Load a detector saved with :meth:`save` (never unpickles; see :func:`load_detector`)."""
        from synthmark.detect.storage import load_detector

        return load_detector(path)

    @property
    def card(self) -> ModelCard:
        """The model card: loaded with the model, or built from the fit."""
        stored = getattr(self, "card_", None)
        if stored is not None:
            return stored
        from synthmark import __version__

        self._fitted("head_")
        summary = getattr(self, "training_summary_", {})
        card = ModelCard(
            synthmark_version=__version__,
            versions=library_versions(),
            extractor=extractor_spec(self.extractor_),
            extractor_description=self.extractor_.describe(),
            head=self.head,
            preprocessing=(
                f"centre crop to at most {self.max_side}px (offsets on the 8px grid, no resize), "
                f"JPEG q{self.canonical_quality} re-encoding, tiles of {self.tile}px "
                f"(at most {self.max_tiles}), image score = mean tile decision"
            ),
            training_data=[
                DataSource(name=k, label="?", n_images=v)
                for k, v in summary.get("sources", {}).items()
            ],
            training_seconds=summary.get("seconds"),
            threshold=float(self.threshold_),
            target_fpr=float(self.target_fpr),
            validation=dict(getattr(self, "validation_", {})),
        )
        self.card_ = card
        return card

    @card.setter
    def card(self, value: ModelCard) -> None:
        self.card_ = value

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != Detector().get_params()[k]}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"Detector({inner})"


def _metrics_dict(m: Any) -> dict[str, Any]:
    from synthmark.jsonutil import to_jsonable

    out: dict[str, Any] = to_jsonable(m)
    return out


class _Canonical(Sequence[Image.Image]):
    """Images passed through the preprocessing step, lazily."""

    def __init__(self, images: Sequence[Image.Image], pre: Preprocess) -> None:
        self.images, self.pre = images, pre

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: Any) -> Any:
        return self.pre(self.images[i])


class _Subset(Sequence[Image.Image]):
    def __init__(self, base: Sequence[Image.Image], idx: NDArray[np.int_]) -> None:
        self.base, self.idx = base, [int(i) for i in idx]

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        return self.base[self.idx[i]]


__all__ = ["Detector", "ImageFeatures"]
