"""Cross-source validation of a detector recipe: every source scored by a model that never saw it.

The recipe (a :class:`~synthmark.detect.detector.Detector` with its parameters, and an
augmentation) is trained once per *family* of sources and scored on that family: a family
is a generator (SD 1.x, Flux, ...) or a camera / photo collection, and every source of it is
held out together, so no model is tested on a generator or camera it has seen. Each fold
model fixes its own threshold on its own training data (out-of-fold, whole sources held out,
as the shipped model does) and is never retuned on the held-out family.

Test images go through the issue's protocol: a centre crop of ``align_side`` px and JPEG
``align_quality`` for both classes (what ``eval detector --align`` does), then optionally an
attack on top (``jpeg:75``, ``resize:0.5``, both classes alike). Training images get the
recipe's augmentation, drawn alike for both classes.

Features are computed once per (image, view) and cached on disk
(:class:`~synthmark.eval.feature_cache.FeatureCache`), so a rerun only fits heads.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.detect import Augment, Detector, ImageFeatures
from synthmark.eval.detector_eval import Alignment
from synthmark.eval.feature_cache import FeatureCache, feature_params
from synthmark.imaging import load_image
from synthmark.metrics import roc_auc

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CrossvalSample:
    """One image: where it is (``box``: a crop of the file), label, source, family, group."""

    path: Path
    label: int
    source: str
    family: str
    group: str
    box: tuple[int, int, int, int] | None = None

    def load(self) -> Image.Image:
        image = load_image(self.path).image
        return image.crop(self.box) if self.box else image


@dataclass
class CrossvalResult:
    """Held-out probabilities and decisions per view, and the fold models' thresholds."""

    samples: list[CrossvalSample]
    views: list[str]
    proba: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    flagged: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def labels(self) -> NDArray[np.int_]:
        return np.asarray([s.label for s in self.samples])

    def summary(self, view: str) -> dict[str, float]:
        """AUC, balanced accuracy, TPR and FPR of ``view`` over all held-out images."""
        y, p, f = self.labels, self.proba[view], self.flagged[view]
        tpr, fpr = float(f[y == 1].mean()), float(f[y == 0].mean())
        return {
            "auc": roc_auc(y, p),
            "balanced_accuracy": (tpr + 1 - fpr) / 2,
            "tpr": tpr,
            "fpr": fpr,
            "n_real": int((y == 0).sum()),
            "n_generated": int((y == 1).sum()),
        }

    def by_source(self, view: str) -> dict[str, dict[str, Any]]:
        """Per source: label, count, share flagged (TPR or FPR), and for generated sources
        the AUC against every held-out real image."""
        y, p, f = self.labels, self.proba[view], self.flagged[view]
        src = np.asarray([s.source for s in self.samples])
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(set(src.tolist())):
            m = src == name
            label = int(y[m][0])
            row: dict[str, Any] = {
                "label": "generated" if label else "real",
                "n": int(m.sum()),
                "flagged": float(f[m].mean()),
            }
            if label:
                both = m | (y == 0)
                row["auc"] = roc_auc(y[both], p[both])
            out[name] = row
        return out


def view_transform(view: str, alignment: Alignment) -> Callable[[Image.Image], Image.Image]:
    """``aligned`` or ``aligned+<attack>``: the test image a view gives."""
    if view == "aligned":
        return alignment
    prefix = "aligned+"
    if not view.startswith(prefix):
        raise ValueError(f"unknown view {view!r}; use 'aligned' or 'aligned+<attack>'")
    attack = get_attack(view[len(prefix) :])
    return lambda im: attack.apply(alignment(im))


def recipe_fingerprint(detector: Detector) -> str:
    """What the features of an unfitted recipe depend on: its feature parameters."""
    text = json.dumps(feature_params(detector), sort_keys=True, default=str)
    return "recipe-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _key(sample: CrossvalSample, data: bytes) -> str:
    box = "" if sample.box is None else ",".join(map(str, sample.box))
    return hashlib.sha256(data + box.encode()).hexdigest()


def compute_features(
    detector: Detector,
    samples: Sequence[CrossvalSample],
    views: Sequence[str],
    augment: Augment | None,
    alignment: Alignment,
    cache_dir: Path | None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, list[ImageFeatures]]:
    """Features of every sample under ``train`` (augmented) and each test view."""
    detector.extractor_ = detector.new_extractor()
    cache = FeatureCache(cache_dir, recipe_fingerprint(detector)) if cache_dir else None
    # The draw is seeded by the image's content, not its position in the list, so that a
    # subset run (--per-source) and the full run agree and the cache key names the draw.
    aug_key = f"train-{augment!r}-{seed}-by-content"
    fns = {v: view_transform(v, alignment) for v in views}
    out: dict[str, list[ImageFeatures]] = {v: [] for v in ("train", *views)}
    for i, sample in enumerate(samples):
        key = _key(sample, sample.path.read_bytes())
        image: Image.Image | None = None
        for view in ("train", *views):
            tag = aug_key if view == "train" else view
            cached = cache.get(key, alignment.key, tag) if cache else None
            if cached is None:
                image = sample.load() if image is None else image
                if view == "train":
                    rng = np.random.default_rng([seed, int(key[:15], 16)])
                    shown = augment(image, rng) if augment else image
                else:
                    shown = fns[view](image)
                cached = detector.features([shown])[0].tiles
                if cache:
                    cache.put(key, alignment.key, tag, cached)
            out[view].append(ImageFeatures(tiles=np.asarray(cached, dtype=np.float32)))
        if progress:
            progress("features", i + 1, len(samples))
    return out


def leave_one_family_out(
    detector: Detector,
    samples: Sequence[CrossvalSample],
    features: dict[str, list[ImageFeatures]],
    views: Sequence[str],
    progress: Progress | None = None,
) -> CrossvalResult:
    """Fit the recipe without each family in turn and score that family in every view."""
    started = time.perf_counter()
    fam = np.asarray([s.family for s in samples])
    y = np.asarray([s.label for s in samples])
    result = CrossvalResult(samples=list(samples), views=list(views))
    for v in views:
        result.proba[v] = np.full(len(samples), np.nan)
        result.flagged[v] = np.zeros(len(samples), dtype=bool)
    families = sorted(set(fam.tolist()))
    for k, family in enumerate(families):
        train = np.flatnonzero(fam != family)
        test = np.flatnonzero(fam == family)
        fold = Detector(**detector.get_params())
        fold.fit_features(
            [features["train"][i] for i in train],
            y[train],
            groups=[samples[int(i)].group for i in train],
            sources=[samples[int(i)].source for i in train],
        )
        result.thresholds[family] = float(fold.threshold_)
        for v in views:
            p = fold.proba_from_features([features[v][i] for i in test])[:, 1]
            result.proba[v][test] = p
            result.flagged[v][test] = p >= fold.threshold_
        if progress:
            progress("families", k + 1, len(families))
    result.seconds = time.perf_counter() - started
    return result


__all__ = [
    "CrossvalResult",
    "CrossvalSample",
    "compute_features",
    "leave_one_family_out",
    "recipe_fingerprint",
    "view_transform",
]
