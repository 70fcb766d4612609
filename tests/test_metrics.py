"""Detector metrics against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from synthmark.errors import UsageError
from synthmark.metrics import (
    average_precision,
    balanced_accuracy,
    bootstrap_ci,
    detector_metrics,
    equal_error_rate,
    expected_calibration_error,
    mean_and_min,
    rates_at,
    roc_auc,
    threshold_at_fpr,
    tpr_at_fpr,
)

Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.45, 0.95])


def test_auc_ap_and_balanced_accuracy_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert balanced_accuracy(y, s, 0.5) == pytest.approx(balanced_accuracy_score(y, s >= 0.5))


def test_rates_at_a_threshold_by_hand() -> None:
    tpr, fpr = rates_at(Y, S, 0.5)
    assert tpr == 0.75 and fpr == 0.25  # 0.7, 0.9, 0.95 of 4 fakes; 0.8 of 4 reals
    assert balanced_accuracy(Y, S, 0.5) == pytest.approx(0.75)


def test_tpr_at_fixed_fpr_reads_the_step_roc() -> None:
    assert tpr_at_fpr(Y, S, 0.0) == 0.5  # thresholds above 0.8: 0.9 and 0.95
    assert tpr_at_fpr(Y, S, 0.25) == 1.0  # allowing the 0.8 real, every fake fits
    assert tpr_at_fpr(Y, S, 1.0) == 1.0
    with pytest.raises(UsageError):
        tpr_at_fpr(Y, S, 1.5)


def test_threshold_at_fpr_flags_at_most_the_allowed_reals() -> None:
    reals = np.arange(1, 11) / 10  # 0.1 ... 1.0
    t = threshold_at_fpr(reals, 0.1)
    assert 0.9 < t <= 1.0 and np.sum(reals >= t) == 1
    t0 = threshold_at_fpr(reals, 0.0)
    assert np.sum(reals >= t0) == 0
    t_ties = threshold_at_fpr(np.array([0.5, 0.5, 0.5, 0.5]), 0.5)
    assert np.sum(np.array([0.5] * 4) >= t_ties) == 0  # ties cannot be split
    with pytest.raises(UsageError, match="no real-image scores"):
        threshold_at_fpr([], 0.05)


def test_equal_error_rate() -> None:
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert equal_error_rate(Y, S) == pytest.approx(0.25)


def test_expected_calibration_error() -> None:
    y = np.array([1] * 8 + [0] * 2)
    assert expected_calibration_error(y, np.full(10, 0.8)) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    with pytest.raises(UsageError, match="probabilities"):
        expected_calibration_error(Y, S * 3)


def test_bootstrap_interval_is_reproducible_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = rng.normal(size=300) + y
    a = bootstrap_ci(roc_auc, y, s, n_boot=200, random_state=5)
    b = bootstrap_ci(roc_auc, y, s, n_boot=200, random_state=5)
    assert a == b
    assert a.low <= a.value <= a.high and a.high - a.low < 0.2


def test_detector_metrics_bundle() -> None:
    m = detector_metrics(Y, S, threshold=0.5, n_boot=50)
    assert (m.n_real, m.n_generated) == (4, 4)
    assert m.tpr == 0.75 and m.fpr == 0.25
    assert m.auc == pytest.approx(roc_auc_score(Y, S))
    assert m.ece is not None and "auc" in m.intervals
    assert "AUC" in m.summary()
    raw = detector_metrics(Y, S * 10 - 5, threshold=0.0)
    assert raw.ece is None  # not probabilities


def test_one_class_gives_nan_not_a_crash() -> None:
    assert np.isnan(roc_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    tpr, fpr = rates_at([0, 0], [0.1, 0.9], 0.5)
    assert np.isnan(tpr) and fpr == 0.5


def test_bad_inputs_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="same length"):
        roc_auc([0, 1], [0.5])
    with pytest.raises(UsageError, match="0 \\(real\\) and 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(UsageError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])


def test_mean_and_min_skip_nan() -> None:
    assert mean_and_min([0.8, float("nan"), 0.6]) == (pytest.approx(0.7), 0.6)
