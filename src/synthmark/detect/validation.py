"""Validation folds, the head fitted on tiles, and out-of-fold scores.

Two ways to cut folds, both never splitting a near-duplicate group:

``group``
    stratified k-fold over near-duplicate groups: every source is in every fold, so the
    out-of-fold scores say how the model does on new pictures from sources it knows;
``source``
    every fold holds whole sources out (a source is an input folder: a generator, a
    camera, a data set), together with any source that shares a near-duplicate group with
    it. The out-of-fold scores then say how the model does on sources it never saw, which
    is what a threshold for unseen photos must be set on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from synthmark.choices import FoldSplit, ThresholdRule
from synthmark.detect.heads import create_head
from synthmark.errors import UsageError

Folds = list[tuple[NDArray[np.int_], NDArray[np.int_]]]
CV_MODES = tuple(sorted(split.value for split in FoldSplit))
#: How the operating threshold meets ``target_fpr`` (:func:`operating_threshold`).
THRESHOLD_MODES = tuple(rule.value for rule in ThresholdRule)


def training_inputs(
    n_images: int,
    y: NDArray[np.int_],
    groups: Sequence[str] | None,
    sources: Sequence[str] | None,
    cv: int,
) -> tuple[NDArray[np.int_], NDArray[Any], NDArray[Any]]:
    """Labels, groups and sources checked against each other (defaults: one group per
    image, one source); at least ``cv`` images of each class."""
    n = len(y)
    if n_images != n:
        raise UsageError(f"{n_images} images but {n} labels")
    counts = np.bincount(y, minlength=2)
    if counts.min() < cv:
        raise UsageError(
            f"need at least cv={cv} images of each class, got {counts[0]} real and "
            f"{counts[1]} generated"
        )
    grp = np.asarray(groups if groups is not None else [str(i) for i in range(n)])
    src = np.asarray(sources if sources is not None else ["all"] * n)
    if len(grp) != n or len(src) != n:
        raise UsageError(f"groups/sources must have one entry per image ({n})")
    return y, grp, src


def check_validation_params(
    target_fpr: float, threshold_by: str, cv: int, cv_by: str, validation_fraction: float
) -> None:
    """A UsageError naming the first validation parameter out of range."""
    if not 0.0 <= target_fpr < 1.0:
        raise UsageError(f"target_fpr must lie in [0, 1), got {target_fpr}")
    if threshold_by not in THRESHOLD_MODES:
        modes = ", ".join(THRESHOLD_MODES)
        raise UsageError(f"threshold_by must be one of {modes}, got {threshold_by!r}")
    if cv < 2:
        raise UsageError(f"cv must be >= 2, got {cv}")
    if cv_by not in CV_MODES:
        raise UsageError(f"cv_by must be one of {', '.join(CV_MODES)}, got {cv_by!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise UsageError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")


def source_units(groups: Sequence[str], sources: Sequence[str]) -> NDArray[np.int_]:
    """A unit per image: sources joined when they share a near-duplicate group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, str] = {}
    for g, s in zip(groups, sources, strict=True):
        key = f"source:{s}"
        find(key)
        if g in first:
            parent[find(key)] = find(first[g])
        else:
            first[g] = key
    roots = [find(f"source:{s}") for s in sources]
    names = {r: i for i, r in enumerate(dict.fromkeys(roots))}
    return np.asarray([names[r] for r in roots], dtype=np.int_)


def validation_folds(
    y: NDArray[np.int_],
    groups: Sequence[str],
    sources: Sequence[str],
    cv: int,
    by: str,
    random_state: int,
) -> Folds:
    """``cv`` (train, validation) index pairs; see the module docstring for ``by``."""
    from sklearn.model_selection import StratifiedGroupKFold

    if by not in CV_MODES:
        raise UsageError(f"cv_by must be one of {', '.join(CV_MODES)}, got {by!r}")
    if by == "source":
        return _source_folds(y, source_units(groups, sources), cv, random_state)
    unit = np.asarray(groups)
    splits = min(cv, len(np.unique(unit)))
    folds = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=random_state)
    out: Folds = []
    for tr, va in folds.split(np.zeros(len(y)), y, unit):
        if len(np.unique(y[tr])) < 2:
            raise UsageError("a validation fold leaves one class out of training; add images")
        out.append((tr, va))
    return out


def _source_folds(y: NDArray[np.int_], unit: NDArray[np.int_], cv: int, seed: int) -> Folds:
    """Units of each class dealt round-robin (in a seeded order) into folds, so every fold
    holds out some sources of a class and trains on the others of it."""
    label = {u: int(np.round(y[unit == u].mean())) for u in np.unique(unit)}
    per_class = [[u for u in label if label[u] == c] for c in (0, 1)]
    if min(len(units) for units in per_class) < 2:
        raise UsageError(
            f"cv_by='source' needs at least 2 sources of each class, got {len(per_class[0])} "
            f"real and {len(per_class[1])} generated; pass more folders or use cv_by='group'"
        )
    splits = min(cv, max(len(units) for units in per_class))
    rng = np.random.default_rng(seed)
    fold_of: dict[int, int] = {}
    for units in per_class:
        for k, u in enumerate(rng.permutation(units)):
            fold_of[int(u)] = k % splits
    assigned = np.asarray([fold_of[int(u)] for u in unit])
    out: Folds = []
    for k in range(splits):
        va = np.flatnonzero(assigned == k)
        tr = np.flatnonzero(assigned != k)
        if len(va) and len(np.unique(y[tr])) == 2:
            out.append((tr, va))
    return out


def fit_head(
    name: str,
    params: dict[str, Any] | None,
    tiles: Sequence[NDArray[np.float32]],
    y: NDArray[np.int_],
    weights: NDArray[np.float64],
    idx: NDArray[np.int_],
    sources: NDArray[Any] | None = None,
) -> Any:
    """A head fitted on the tiles of images ``idx``, each image weighing ``weights[i]``;
    a head that reads the images' ``sources`` (``uses_sources``) gets them per tile."""
    X = np.concatenate([tiles[i] for i in idx]).astype(np.float64)
    yt = np.concatenate([np.full(len(tiles[i]), y[i]) for i in idx])
    wt = np.concatenate([np.full(len(tiles[i]), weights[i] / len(tiles[i])) for i in idx])
    head = create_head(name, params)
    extra: dict[str, Any] = {}
    if getattr(head, "uses_sources", False) and sources is not None:
        extra["sources"] = np.concatenate([np.full(len(tiles[i]), sources[i]) for i in idx])
    head.fit(X, yt, sample_weight=wt * (len(wt) / wt.sum()), **extra)
    return head


def image_decision(head: Any, tiles: NDArray[np.float32]) -> float:
    """An image's score: the mean decision of its tiles."""
    return float(np.mean(head.decision_function(tiles.astype(np.float64))))


def out_of_fold(
    fit: Callable[[NDArray[np.int_]], Any],
    tiles: Sequence[NDArray[np.float32]],
    folds: Folds,
    progress: Callable[[str, int, int], None] | None = None,
) -> NDArray[np.float64]:
    """Each image's decision from the head fitted without its fold."""
    oof = np.full(len(tiles), np.nan)
    for k, (tr, va) in enumerate(folds):
        head = fit(tr)
        oof[va] = [image_decision(head, tiles[i]) for i in va]
        if progress:
            progress("validation folds", k + 1, len(folds))
    return oof


def sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function, without overflow."""
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def calibration(
    scores: NDArray[np.float64], y: NDArray[np.int_], w: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Slope and offset of a sigmoid (Platt) fitted on out-of-fold scores."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(scores[:, None], y, sample_weight=w * (len(w) / w.sum()))
    return np.array([float(lr.coef_.ravel()[0]), float(lr.intercept_[0])])


def operating_threshold(
    p: NDArray[np.float64], y: NDArray[np.int_], src: NDArray[Any], target_fpr: float, by: str
) -> float:
    """The threshold on validation scores ``p`` for ``target_fpr`` false positives.

    ``pooled``: over all real images together, so a large real source sets it and a small
    one may be flagged far more often; ``source``: the highest of each real source's own
    threshold, so no real source is flagged above ``target_fpr`` (a lower TPR).
    """
    from synthmark.metrics import threshold_at_fpr

    if by not in THRESHOLD_MODES:
        raise UsageError(f"threshold_by must be one of {', '.join(THRESHOLD_MODES)}, got {by!r}")
    real = y == 0
    if by == "pooled":
        return float(threshold_at_fpr(p[real], target_fpr))
    return max(
        float(threshold_at_fpr(p[real & (src == s)], target_fpr)) for s in np.unique(src[real])
    )


def flagged_by_source(
    src: NDArray[Any], y: NDArray[np.int_], p: NDArray[np.float64], threshold: float
) -> dict[str, dict[str, Any]]:
    """Per source: its label, image count and the share flagged at ``threshold``."""
    out = {}
    for s in np.unique(src):
        m = src == s
        label = int(y[m][0])
        rate = float((p[m] >= threshold).mean())
        out[str(s)] = {"label": ("real", "generated")[label], "n": int(m.sum()), "flagged": rate}
    return out


__all__ = [
    "CV_MODES",
    "THRESHOLD_MODES",
    "calibration",
    "check_validation_params",
    "fit_head",
    "flagged_by_source",
    "image_decision",
    "operating_threshold",
    "out_of_fold",
    "sigmoid",
    "source_units",
    "training_inputs",
    "validation_folds",
]
