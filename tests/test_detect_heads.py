"""Heads follow scikit-learn's conventions and survive a save as plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from synthmark.detect.heads import (
    LogisticHead,
    MLPHead,
    NoveltyHead,
    create_head,
    head_from_arrays,
    list_heads,
)


def _expected_failures(estimator: object) -> dict[str, str]:
    if isinstance(estimator, NoveltyHead):
        return {
            "check_sample_weight_equivalence_on_dense_data": (
                "Ledoit-Wolf shrinkage depends on the number of rows, so weight 2 is not "
                "the same as a repeated row"
            )
        }
    return {}


@parametrize_with_checks(
    [LogisticHead(), MLPHead(max_iter=200), NoveltyHead()],
    expected_failed_checks=_expected_failures,
)
def test_scikit_learn_conventions(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


@pytest.mark.parametrize("name", list_heads())
def test_arrays_round_trip_gives_identical_decisions(name: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    head = create_head(name).fit(X, y)
    rebuilt = head_from_arrays(name, head.get_params(), head.to_arrays())
    assert np.array_equal(rebuilt.decision_function(X), head.decision_function(X))
    assert np.array_equal(rebuilt.predict(X), head.predict(X))
    assert list(rebuilt.classes_) == [0, 1]


def test_mlp_head_learns_what_a_linear_head_cannot() -> None:
    """An XOR of two features: no hyperplane separates it, one hidden layer does."""
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    mlp = MLPHead(hidden=16, alpha=1e-3).fit(X, y)
    linear = LogisticHead().fit(X, y)
    assert (mlp.predict(X) == y).mean() > 0.9
    assert (linear.predict(X) == y).mean() < 0.7


def test_mlp_head_decision_is_the_fitted_networks_logit() -> None:
    """The stored arrays reproduce scikit-learn's probability (what ONNX export relies on)."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 5)) * 10 + 3
    y = (X[:, 0] + X[:, 1] > 6).astype(int)
    head = MLPHead(hidden=8, max_iter=300).fit(X, y)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    ref = MLPClassifier((8,), alpha=1.0, max_iter=300, random_state=0).fit(Z, y)
    p = 1 / (1 + np.exp(-head.decision_function(X)))
    assert np.allclose(p, ref.predict_proba(Z)[:, 1], atol=1e-6)


def _two_real_sources(n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature 0 tells the real sources apart (and happens to separate this generated set),
    feature 1 is the real signal; features 2-3 are noise."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3 * n, 4))
    X[:n, 0] += 2.0  # real source A
    X[2 * n :, 0] -= 2.0  # generated: all at one side of feature 0
    X[2 * n :, 1] += 1.5
    y = np.r_[np.zeros(2 * n), np.ones(n)].astype(int)
    sources = np.array(["A"] * n + ["B"] * n + ["gen"] * n)
    return X, y, sources


def test_nuisance_drops_what_tells_the_real_sources_apart() -> None:
    X, y, sources = _two_real_sources()
    plain = LogisticHead().fit(X, y)
    head = LogisticHead(nuisance=1).fit(X, y, sources=sources)
    assert abs(plain.coef_[0]) > abs(plain.coef_[1])  # the shortcut wins without it
    assert abs(head.coef_[0]) < 0.15 * abs(head.coef_[1])
    assert head.nuisance_dims_ == 1
    # A new real source, shifted along the nuisance direction, is not pushed to "generated".
    rng = np.random.default_rng(5)
    new_real = rng.normal(size=(200, 4)) - np.array([2.0, 0, 0, 0])
    assert head.predict(new_real).mean() < 0.2 < plain.predict(new_real).mean()


def test_nuisance_is_capped_by_the_real_sources_and_needs_them() -> None:
    X, y, sources = _two_real_sources(50)
    # two real sources span one direction, whatever is asked
    assert LogisticHead(nuisance=6).fit(X, y, sources=sources).nuisance_dims_ == 1
    with pytest.raises(ValueError, match="sources"):
        LogisticHead(nuisance=1).fit(X, y)
    with pytest.raises(ValueError, match=">= 0"):
        LogisticHead(nuisance=-1).fit(X, y, sources=sources)


def test_nuisance_head_survives_a_save_as_a_plain_logistic_head() -> None:
    X, y, sources = _two_real_sources(50)
    head = LogisticHead(nuisance=1).fit(X, y, sources=sources)
    rebuilt = head_from_arrays("logistic", head.get_params(), head.to_arrays())
    assert np.array_equal(rebuilt.decision_function(X), head.decision_function(X))


def test_within_drops_what_varies_most_inside_the_real_sources() -> None:
    """Features 0, 2 and 3 move together widely inside each real source (a subject, a
    scene), and this generated set sits beyond one end of that spread; ``within`` removes
    the direction (``nuisance`` would not find it: both real sources have the same mean
    along it)."""
    rng = np.random.default_rng(6)
    n = 200
    spread = np.array([1.0, 0.0, 1.0, 1.0])
    X = rng.normal(scale=0.3, size=(3 * n, 4))
    X[: 2 * n] += rng.normal(size=(2 * n, 1)) * spread  # both real sources
    X[2 * n :] += 3.0 * spread  # the generated images sit beyond one end of it
    X[2 * n :, 1] += 1.0  # feature 1: the real signal
    y = np.r_[np.zeros(2 * n), np.ones(n)].astype(int)
    sources = np.array(["A"] * n + ["B"] * n + ["gen"] * n)
    plain = LogisticHead().fit(X, y)
    head = LogisticHead(within=1).fit(X, y, sources=sources)

    def along(h: LogisticHead) -> float:  # the raw-feature weight along the spread
        return abs(float((h.coef_ / h.scale_) @ spread)) / abs(float(h.coef_[1] / h.scale_[1]))

    assert along(plain) > 0.5
    assert along(head) < 0.1
    assert head.nuisance_dims_ == 1
    assert LogisticHead(nuisance=1, within=1).fit(X, y, sources=sources).nuisance_dims_ == 2
    # Real photos from the far end of that spread are not pushed to "generated".
    far_real = rng.normal(scale=0.3, size=(200, 4)) + 3.0 * spread
    assert head.predict(far_real).mean() < 0.2 < plain.predict(far_real).mean()
    rebuilt = head_from_arrays("logistic", head.get_params(), head.to_arrays())
    assert np.array_equal(rebuilt.decision_function(X), head.decision_function(X))
    with pytest.raises(ValueError, match="sources"):
        LogisticHead(within=1).fit(X, y)
    with pytest.raises(ValueError, match=">= 0"):
        LogisticHead(within=-1).fit(X, y, sources=sources)


def test_novelty_head_scores_outliers_of_the_first_class_higher() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 5))
    fake = rng.normal(size=(200, 5)) + np.array([3, 0, 0, 0, 0])
    X = np.vstack([real, fake])
    y = np.r_[np.zeros(200), np.ones(200)]
    head = NoveltyHead().fit(X, y)
    assert head.decision_function(fake).mean() > head.decision_function(real).mean()
    # Outliers in a direction never seen in training are flagged too.
    other = rng.normal(size=(50, 5)) + np.array([0, 0, 0, 0, -4])
    assert head.decision_function(other).mean() > head.decision_function(real).mean()


def test_multiclass_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="binary"):
        LogisticHead().fit(np.zeros((6, 2)), [0, 1, 2, 0, 1, 2])
