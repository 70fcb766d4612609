"""Benchmark scripts under benchmarks/ that have no other test: a tiny run of each."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_watermark_colour_reports_more_colour_difference_for_a_coloured_split(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    colour = _load("watermark_colour")
    argv = ["--data", str(shared_data / "detector"), "--n", "2", "--size", "256", "--mixes", "0,1"]
    assert colour.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 2
    grey, coloured = report["by_colour_mix"]["0.0"], report["by_colour_mix"]["1.0"]
    assert grey["channel_gains"] == [1.0, 1.0, 1.0]
    assert coloured["channel_gains"][1] > 1.0 > coloured["channel_gains"][0]
    assert coloured["ciede2000_mean"] > grey["ciede2000_mean"] > 0.0
    for row in (grey, coloured):
        assert row["psnr_min"] >= 40.0 and row["ssim_min"] >= 0.98


def test_watermark_bench_takes_attacks_and_a_seed(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _load("watermark_bench")
    argv = ["watermark_bench.py", "--data", str(shared_data / "detector"), "--n", "1"]
    argv += ["--sizes", "256", "--schemes", "synthmark", "--no-calibration", "--unmarked", "1"]
    tables = []
    for seed in ("0", "1"):
        monkeypatch.setattr("sys.argv", [*argv, "--attacks", "crop_corner:0.5", "--seed", seed])
        bench.main()
        tables.append(capsys.readouterr().out)
    for table in tables:
        assert "| crop_corner:0.5 |" in table and "| jpeg:50 |" not in table
    # another seed picks another image, so another mark and PSNR
    assert tables[0].split("| synthmark | 256 |")[1] != tables[1].split("| synthmark | 256 |")[1]


def test_png_compress_reports_each_level_with_smaller_files_at_higher_levels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("png_compress")
    assert bench.main(["--size", "128", "--repeat", "1"]) == 0
    levels = json.loads(capsys.readouterr().out)["levels"]
    assert list(levels) == ["1", "3", "6"]
    assert levels["1"]["mean_bytes"] > levels["3"]["mean_bytes"] > levels["6"]["mean_bytes"]
    assert levels["6"]["size_vs_level_6"] == 1.0 and levels["1"]["size_vs_level_6"] > 1.0
