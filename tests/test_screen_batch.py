"""Batch screening's library parts (``synthmark.screen.batch``): inputs, counts, fail-on."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.choices import VerdictLabel
from synthmark.errors import UsageError
from synthmark.imaging import InputItem
from synthmark.screen.assemble import ScreenerSpec
from synthmark.screen.batch import BatchSummary, check_inputs, interrupted_hint


def test_fail_on_counts_screened_and_recorded_verdicts_and_ignores_unknown_ones() -> None:
    summary = BatchSummary()
    summary.count({"path": "a", "verdict": "likely_synthetic"})
    summary.count({"path": "b", "error": "cannot decode"})
    assert summary.reached(VerdictLabel.likely_synthetic)
    assert not summary.reached(VerdictLabel.synthetic)
    summary.recorded_verdicts = {"synthetic": 1, "a verdict of another version": 4}
    assert summary.reached(VerdictLabel.synthetic)
    assert not BatchSummary(recorded_verdicts={"weird": 2}).reached(VerdictLabel.likely_synthetic)
    assert summary.describe() == "1 screened (1 likely_synthetic), 1 unreadable, 0 skipped"
    assert BatchSummary().describe() == "0 screened (none), 0 unreadable, 0 skipped"


def test_missing_inputs_or_none_at_all_are_usage_errors(tmp_path: Path) -> None:
    good = InputItem(tmp_path / "a.png")
    check_inputs([good], ["a.png"])
    missing = [InputItem(tmp_path / f"m{i}.png", "no such file or folder") for i in range(5)]
    with pytest.raises(UsageError, match=r"m0\.png: no such file.*\(and 2 more\)"):
        check_inputs([good, *missing], ["x"])
    with pytest.raises(UsageError, match="no image files in empty/"):
        check_inputs([], ["empty/"])


def test_the_interrupted_hint_says_how_to_go_on() -> None:
    kept = interrupted_hint(3, 10, Path("out.jsonl"))
    assert kept.startswith("Interrupted after 3 of 10 file(s): their records are in out.jsonl")
    assert "give -o FILE" in interrupted_hint(0, 2, None)


def test_preload_without_the_detector_builds_nothing(tmp_path: Path) -> None:
    spec = ScreenerSpec(home=str(tmp_path), use_detector=False)
    assert spec.preload(reuse=True) is spec
