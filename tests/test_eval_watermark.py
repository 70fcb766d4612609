"""``synthmark eval watermark``: the report on a few images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.eval.watermark_report import EVAL_ATTACKS
from tests import hostile

pytestmark = pytest.mark.timeout(300)


def test_eval_attack_set_extends_the_watermark_targets() -> None:
    for extra in ("webp:75", "screenshot:0.8", "crop_pad:0.7", "jpeg:50", "chain", "hflip"):
        assert extra in EVAL_ATTACKS


def test_report_on_a_few_images(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        hostile.photo_like((600, 520), seed=i).save(folder / f"p{i}.png")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [
        "eval", "watermark", "--images", str(folder), "--schemes", "synthmark,dwtDct", "-n", "2",
        "--attacks", "jpeg:75,crop_pad:0.7,screenshot:0.8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert report.startswith("# Watermark evaluation")
    assert "| synthmark | 512 | 2 | 64 |" in report
    data = json.loads((out / "results.json").read_text())
    rows = {(r["scheme"], r["attack"]): r for r in data["rows"]}
    assert set(rows) == {(s, a) for s in ("synthmark", "dwtDct")
                         for a in ("none", "jpeg:75", "crop_pad:0.7", "screenshot:0.8")}
    assert rows[("synthmark", "none")]["exact"] == 1.0
    summary = {r["scheme"]: r for r in data["summary"]}
    assert summary["synthmark"]["psnr_mean"] >= 40
    assert summary["synthmark"]["unmarked_reads"] > 0
    assert summary["synthmark"]["false_positives"] == 0
    assert (out / "exact_rate.png").stat().st_size > 1000
    # synthmark's security attacks: each marked image's residual copied onto another image
    # of the set; too few images for an averaging pool, and no regeneration weights here
    assert "synthmark security" in report
    copies = {r["attack"]: r for r in data["security"]}
    assert {"copy:median:1", "copy:gauss:0.5"} <= set(copies)
    assert all(0.0 <= r["copied"] <= r["present"] <= 1.0 for r in copies.values())
    assert any("average:10 skipped" in note for note in data["notes"])
    assert any("regen skipped" in note for note in data["notes"])
    bad = CliRunner().invoke(app, ["eval", "watermark", "--images", str(folder), "--schemes",
                                   "sd1", "-o", str(out)])
    assert bad.exit_code == 2 and "unknown scheme 'sd1'" in bad.output


def test_report_with_no_attacks_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    hostile.photo_like((600, 520), seed=1).save(folder / "p.png")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [
        "eval", "watermark", "--images", str(folder), "--schemes", "synthmark", "-n", "1",
        "--attacks", "none", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    assert "no attacks" in report and "(None)" not in report
