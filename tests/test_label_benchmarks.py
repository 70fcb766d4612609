"""The labelling benchmarks under benchmarks/: a tiny run of each, so that they keep working."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_benchmark_scripts import _load

pytestmark = pytest.mark.timeout(300)


def test_label_overhead_reports_every_stage(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("label_overhead")
    assert bench.main(["--n", "1", "--size", "320", "--data", str(shared_data / "detector")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 1 and report["size"] == "320x320"
    stages = report["stages"]
    for name in ("decode", "read_metadata", "mark_check", "watermark", "encode", "labels",
                 "registry_and_write", "overhead"):
        assert stages[name]["median_ms"] >= 0, name


def test_manifest_recovery_counts_reads_recoveries_and_false_recoveries(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("manifest_recovery")
    argv = ["--n", "2", "--unmarked", "1", "--attacks", "none,jpeg:50",
            "--data", str(shared_data / "detector")]
    assert bench.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["attack"] for row in report["attacks"]] == ["none", "jpeg:50"]
    assert report["attacks"][0]["mark_reads"] == report["attacks"][0]["recovered"] == 2
    assert report["unmarked"] == {"reads": 3, "recovered": 0}
