"""Metrics of a real-vs-generated detector, shared by ``synthmark detect`` and ``synthmark eval``.

Conventions, everywhere in this module:

* ``y_true`` holds 1 for *generated* (the positive class) and 0 for *real*;
* ``scores`` are "higher means more likely generated": probabilities or raw decision values;
* a threshold ``t`` labels a score ``s`` as generated when ``s >= t``.

The functions are thin wrappers around scikit-learn where it has the metric (AUC, AP, ROC,
balanced accuracy) and small, tested code where it does not (TPR at a fixed FPR, EER, ECE,
stratified bootstrap intervals).

>>> m = detector_metrics(y, p, threshold=0.5)          # doctest: +SKIP
>>> m.auc, m.balanced_accuracy, m.fpr
(0.93, 0.86, 0.04)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from synthmark.errors import UsageError

FloatArray = NDArray[np.float64]


def _as_binary(y_true: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.int_], FloatArray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
        raise UsageError(
            f"y_true and scores must be 1-D arrays of the same length, got shapes "
            f"{y.shape} and {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise UsageError("scores contain NaN or infinite values; drop or repair those rows")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise UsageError(
            f"y_true must hold 0 (real) and 1 (generated), got values {sorted(values)}"
        )
    return y.astype(np.int_), s


def _both_classes(y: NDArray[np.int_]) -> bool:
    return bool(np.any(y == 1) and np.any(y == 0))


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y, s = _as_binary(y_true, scores)
    return float(roc_auc_score(y, s)) if _both_classes(y) else float("nan")


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Average precision with *generated* as the positive class; NaN without positives."""
    from sklearn.metrics import average_precision_score

    y, s = _as_binary(y_true, scores)
    return float(average_precision_score(y, s)) if _both_classes(y) else float("nan")


def balanced_accuracy(y_true: ArrayLike, scores: ArrayLike, threshold: float) -> float:
    """Mean of TPR and TNR when ``scores >= threshold`` is called generated."""
    from sklearn.metrics import balanced_accuracy_score

    y, s = _as_binary(y_true, scores)
    if not _both_classes(y):
        return float("nan")
    return float(balanced_accuracy_score(y, (s >= threshold).astype(np.int_)))


def rates_at(y_true: ArrayLike, scores: ArrayLike, threshold: float) -> tuple[float, float]:
    """``(tpr, fpr)`` when ``scores >= threshold`` is called generated (NaN for a missing class)."""
    y, s = _as_binary(y_true, scores)
    pred = s >= threshold
    tpr = float(pred[y == 1].mean()) if np.any(y == 1) else float("nan")
    fpr = float(pred[y == 0].mean()) if np.any(y == 0) else float("nan")
    return tpr, fpr


def tpr_at_fpr(y_true: ArrayLike, scores: ArrayLike, max_fpr: float) -> float:
    """The highest TPR reachable by a threshold whose FPR does not exceed ``max_fpr``.

    This is the step-function reading of the empirical ROC curve (no interpolation), the
    convention of WAVES and of the B-Free protocol: a detector must actually be able to
    operate at the point reported.
    """
    from sklearn.metrics import roc_curve

    if not 0.0 <= max_fpr <= 1.0:
        raise UsageError(f"max_fpr must lie in [0, 1], got {max_fpr}")
    y, s = _as_binary(y_true, scores)
    if not _both_classes(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    ok = fpr <= max_fpr + 1e-12
    return float(tpr[ok].max()) if np.any(ok) else 0.0


def threshold_at_fpr(real_scores: ArrayLike, target_fpr: float) -> float:
    """The smallest threshold whose FPR on ``real_scores`` does not exceed ``target_fpr``.

    With ``s >= t`` meaning generated, the threshold sits just above the
    ``ceil(n * (1 - target_fpr))``-th smallest real score, so that at most
    ``floor(n * target_fpr)`` real images are flagged.
    """
    r = np.sort(np.asarray(real_scores, dtype=np.float64))
    if r.size == 0:
        raise UsageError("no real-image scores: a threshold at a stated FPR needs real images")
    if not 0.0 <= target_fpr < 1.0:
        raise UsageError(f"target_fpr must lie in [0, 1), got {target_fpr}")
    allowed = int(np.floor(r.size * target_fpr + 1e-9))
    if allowed == 0:
        return float(np.nextafter(r[-1], np.inf))
    # Flag at most `allowed` reals: threshold just above the (n - allowed - 1)-th smallest.
    pivot = r[r.size - allowed - 1]
    return float(np.nextafter(pivot, np.inf))


def equal_error_rate(y_true: ArrayLike, scores: ArrayLike) -> float:
    """The error rate where FPR equals FNR on the empirical ROC (linear interpolation)."""
    from sklearn.metrics import roc_curve

    y, s = _as_binary(y_true, scores)
    if not _both_classes(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    diff = fpr - fnr
    idx = int(np.argmax(diff >= 0))  # first point where FPR has caught up with FNR
    if idx == 0:
        return float((fpr[0] + fnr[0]) / 2)
    x0, x1 = diff[idx - 1], diff[idx]
    w = 0.0 if x1 == x0 else -x0 / (x1 - x0)
    f = fpr[idx - 1] + w * (fpr[idx] - fpr[idx - 1])
    n = fnr[idx - 1] + w * (fnr[idx] - fnr[idx - 1])
    return float((f + n) / 2)


def expected_calibration_error(
    y_true: ArrayLike, probabilities: ArrayLike, bins: int = 15
) -> float:
    """ECE of P(generated): the bin-weighted mean |accuracy - confidence| over equal-width bins.

    Uses the binary form (frequency of *generated* in a bin against the mean predicted
    probability), as in ``sklearn.calibration.calibration_curve``.
    """
    y, p = _as_binary(y_true, probabilities)
    if np.any((p < 0) | (p > 1)):
        raise UsageError("ECE needs probabilities in [0, 1], got scores outside that range")
    if bins < 1:
        raise UsageError(f"bins must be >= 1, got {bins}")
    if p.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if np.any(m):
            total += m.sum() * abs(float(y[m].mean()) - float(p[m].mean()))
    return float(total / p.size)


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap confidence interval."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(
    metric: Callable[[NDArray[np.int_], FloatArray], float],
    y_true: ArrayLike,
    scores: ArrayLike,
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> Interval:
    """Percentile interval of ``metric(y, scores)`` under a stratified bootstrap.

    Each class is resampled with replacement within itself, so every replicate keeps the
    class sizes (and AUC stays defined). Replicates giving NaN are dropped.
    """
    if not 0.0 < level < 1.0:
        raise UsageError(f"level must lie in (0, 1), got {level}")
    y, s = _as_binary(y_true, scores)
    value = float(metric(y, s))
    rng = np.random.default_rng(random_state)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    stats = []
    for _ in range(max(0, n_boot)):
        idx = np.concatenate(
            [
                rng.choice(pos, pos.size) if pos.size else pos,
                rng.choice(neg, neg.size) if neg.size else neg,
            ]
        )
        v = float(metric(y[idx], s[idx]))
        if np.isfinite(v):
            stats.append(v)
    if not stats:
        return Interval(value, float("nan"), float("nan"), level)
    alpha = (1.0 - level) / 2
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return Interval(value, float(low), float(high), level)


@dataclass
class DetectorMetrics:
    """Every number the detector targets ask for, on one set of scores.

    ``threshold`` is the operating point that was applied (never tuned on these scores);
    ``tpr``/``fpr``/``balanced_accuracy`` are read at it. ``ece`` is ``None`` when the
    scores are not probabilities.
    """

    n_real: int
    n_generated: int
    threshold: float
    auc: float
    ap: float
    balanced_accuracy: float
    tpr: float
    fpr: float
    tpr_at_1pct_fpr: float
    tpr_at_5pct_fpr: float
    eer: float
    ece: float | None
    intervals: dict[str, Interval] = field(default_factory=dict)

    def summary(self) -> str:
        """One line a person reads at a glance."""

        def ci(name: str, value: float) -> str:
            iv = self.intervals.get(name)
            return f"{value:.3f}" + (f" [{iv.low:.3f}, {iv.high:.3f}]" if iv else "")

        return (
            f"AUC {ci('auc', self.auc)}  AP {self.ap:.3f}  "
            f"balanced acc {ci('balanced_accuracy', self.balanced_accuracy)} "
            f"@ {self.threshold:.3f} (TPR {self.tpr:.3f}, FPR {ci('fpr', self.fpr)})  "
            f"TPR@1%FPR {self.tpr_at_1pct_fpr:.3f}  TPR@5%FPR {self.tpr_at_5pct_fpr:.3f}  "
            f"EER {self.eer:.3f}"
            + (f"  ECE {self.ece:.3f}" if self.ece is not None else "")
            + f"  (n={self.n_generated} generated / {self.n_real} real)"
        )


def detector_metrics(
    y_true: ArrayLike,
    scores: ArrayLike,
    threshold: float,
    n_boot: int = 0,
    random_state: int = 0,
    ece_bins: int = 15,
) -> DetectorMetrics:
    """All detector metrics at a fixed ``threshold``; with ``n_boot > 0``, 95% intervals too.

    ``scores`` in [0, 1] are treated as probabilities and get an ECE.
    """
    y, s = _as_binary(y_true, scores)
    tpr, fpr = rates_at(y, s, threshold)
    is_prob = bool(s.size and s.min() >= 0.0 and s.max() <= 1.0)
    metrics = DetectorMetrics(
        n_real=int((y == 0).sum()),
        n_generated=int((y == 1).sum()),
        threshold=float(threshold),
        auc=roc_auc(y, s),
        ap=average_precision(y, s),
        balanced_accuracy=balanced_accuracy(y, s, threshold),
        tpr=tpr,
        fpr=fpr,
        tpr_at_1pct_fpr=tpr_at_fpr(y, s, 0.01),
        tpr_at_5pct_fpr=tpr_at_fpr(y, s, 0.05),
        eer=equal_error_rate(y, s),
        ece=expected_calibration_error(y, s, ece_bins) if is_prob else None,
    )
    if n_boot > 0 and _both_classes(y):
        wanted: dict[str, Callable[[NDArray[np.int_], FloatArray], float]] = {
            "auc": roc_auc,
            "balanced_accuracy": lambda yy, ss: balanced_accuracy(yy, ss, threshold),
            "fpr": lambda yy, ss: rates_at(yy, ss, threshold)[1],
            "tpr": lambda yy, ss: rates_at(yy, ss, threshold)[0],
        }
        metrics.intervals = {
            name: bootstrap_ci(fn, y, s, n_boot=n_boot, random_state=random_state)
            for name, fn in wanted.items()
        }
    return metrics


def mean_and_min(values: Sequence[float]) -> tuple[float, float]:
    """Mean and minimum over per-source values, ignoring NaN (the DDA / B-Free summary)."""
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.min())


__all__ = [
    "DetectorMetrics",
    "Interval",
    "average_precision",
    "balanced_accuracy",
    "bootstrap_ci",
    "detector_metrics",
    "equal_error_rate",
    "expected_calibration_error",
    "mean_and_min",
    "rates_at",
    "roc_auc",
    "threshold_at_fpr",
    "tpr_at_fpr",
]
