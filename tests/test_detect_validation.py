"""synthmark.detect.validation: source-held-out folds and the operating threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthmark.detect import Detector
from synthmark.errors import UsageError
from synthmark.metrics import threshold_at_fpr
from tests.detect_images import tiny_detector, tiny_set


def test_source_folds_hold_whole_sources_out_and_keep_groups_together() -> None:
    from synthmark.detect.validation import source_units, validation_folds

    sources = ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4 + ["e"] * 4
    groups = [f"{s}{i}" for i, s in enumerate(sources)]
    groups[4] = groups[8] = "twin"  # b and c share a near-duplicate: one unit
    y = np.array([0] * 8 + [1] * 12)
    units = source_units(groups, sources)
    assert units[4] == units[8] and units[0] != units[4]
    for train, val in validation_folds(y, groups, sources, 3, "source", 0):
        held = {sources[i] for i in val}
        assert not held & {sources[i] for i in train}
        assert ("b" in held) == ("c" in held)
    with pytest.raises(UsageError, match="at least 2 sources of each class"):
        validation_folds(y, groups, ["r"] * 8 + ["f"] * 12, 3, "source", 0)


def test_fit_features_with_source_folds_matches_fit(tmp_path: Path) -> None:
    from synthmark.detect import ImageFeatures

    images, labels = tiny_set(12)
    sources = [f"{lab}-{i % 3}" for i, lab in enumerate(labels)]
    det = tiny_detector(cv_by="source").fit(images, labels, sources=sources)
    feats = det.features(images)
    again = tiny_detector(cv_by="source").fit_features(feats, labels, sources=sources)
    assert again.threshold_ == det.threshold_
    assert "holding whole sources out" in det.validation_["method"]
    assert set(det.validation_["by_source"]) == set(sources)
    assert isinstance(feats[0], ImageFeatures)
    state, arrays = det._to_state()
    clone = Detector._from_state(state, arrays)
    assert np.array_equal(clone.predict_proba(images[:3]), det.predict_proba(images[:3]))


def test_fit_head_gives_a_source_reading_head_the_source_of_every_tile() -> None:
    from synthmark.detect.validation import fit_head

    rng = np.random.default_rng(0)
    tiles = [rng.normal(size=(1 + i % 3, 4)).astype(np.float32) for i in range(30)]
    y = np.array([i % 2 for i in range(30)])
    for i in range(0, 30, 2):  # real images of source "a" sit far off along feature 0
        tiles[i][:, 0] += 5.0 if i % 4 == 0 else 0.0
    sources = np.array(["a" if i % 4 == 0 else "b" if i % 2 == 0 else "g" for i in range(30)])
    idx = np.arange(30)
    head = fit_head("logistic", {"nuisance": 1}, tiles, y, np.ones(30), idx, sources)
    assert head.nuisance_dims_ == 1
    with pytest.raises(ValueError, match="sources"):
        fit_head("logistic", {"nuisance": 1}, tiles, y, np.ones(30), idx)


def test_operating_threshold_by_source_keeps_every_real_source_at_the_target() -> None:
    from synthmark.detect.validation import operating_threshold

    # A large real source with low scores and a small one with high scores: the pooled
    # threshold lets the small source be flagged 40% of the time, the per-source one not.
    p = np.r_[np.linspace(0.0, 0.5, 95), np.linspace(0.55, 0.9, 10), np.linspace(0.6, 1.0, 20)]
    y = np.r_[np.zeros(105, dtype=int), np.ones(20, dtype=int)]
    src = np.asarray(["big"] * 95 + ["small"] * 10 + ["gen"] * 20)
    pooled = operating_threshold(p, y, src, 0.05, "pooled")
    per_source = operating_threshold(p, y, src, 0.05, "source")
    assert pooled == threshold_at_fpr(p[y == 0], 0.05)
    assert np.mean(p[src == "small"] >= pooled) == pytest.approx(0.5)
    for s in ("big", "small"):
        assert np.mean(p[src == s] >= per_source) <= 0.05
    assert per_source > pooled
    with pytest.raises(UsageError, match="threshold_by"):
        operating_threshold(p, y, src, 0.05, "mean")


def test_detector_threshold_by_source_bounds_each_real_source_out_of_fold() -> None:
    images, labels = tiny_set(12)
    sources = [f"{lab}-{i % 3}" for i, lab in enumerate(labels)]
    det = tiny_detector(cv_by="source", threshold_by="source").fit(images, labels, sources=sources)
    y = np.array([lab == "generated" for lab in labels])
    src = np.asarray(sources)
    for s in {s for s, g in zip(sources, y, strict=True) if not g}:
        assert np.mean(det.oof_proba_[src == s] >= det.threshold_) <= det.target_fpr
    for name, info in det.validation_["by_source"].items():
        if info["label"] == "real":
            assert info["flagged"] <= det.target_fpr, name
    assert "each training source" in det.card.to_markdown()
    assert "each training source" not in tiny_detector().fit(images, labels).card.to_markdown()
    with pytest.raises(UsageError, match="threshold_by"):
        tiny_detector(threshold_by="worst").fit(images, labels)
