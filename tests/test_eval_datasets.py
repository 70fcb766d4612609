"""Evaluation data-set layouts: plain folders, GenImage, CNNDetection, CSV manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.errors import UsageError
from synthmark.eval.datasets import FAKE, REAL, discover, parse_label
from tests import hostile


def _img(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return hostile.write(path, hostile.png_bytes(hostile.photo_like((16, 16))))


def test_plain_folders_take_sources_from_sub_folders(tmp_path: Path) -> None:
    _img(tmp_path / "real" / "a.png")
    _img(tmp_path / "fake" / "sd14" / "b.png")
    _img(tmp_path / "fake" / "sd21" / "c.png")
    samples = discover(real=[tmp_path / "real"], fake=[tmp_path / "fake"])
    assert [(s.path.name, s.label, s.source) for s in samples] == [
        ("a.png", REAL, "real"),
        ("b.png", FAKE, "sd14"),
        ("c.png", FAKE, "sd21"),
    ]


def test_genimage_layout(tmp_path: Path) -> None:
    _img(tmp_path / "midjourney" / "val" / "ai" / "x.png")
    _img(tmp_path / "midjourney" / "val" / "nature" / "y.png")
    _img(tmp_path / "vqdm" / "val" / "ai" / "z.png")
    samples = discover(data=[tmp_path])
    assert sorted((s.path.name, s.label, s.source) for s in samples) == [
        ("x.png", FAKE, "midjourney"),
        ("y.png", REAL, "midjourney"),
        ("z.png", FAKE, "vqdm"),
    ]


def test_cnndetection_layout(tmp_path: Path) -> None:
    _img(tmp_path / "progan" / "car" / "0_real" / "r.png")
    _img(tmp_path / "progan" / "car" / "1_fake" / "f.png")
    samples = discover(data=[tmp_path])
    assert sorted((s.label, s.source) for s in samples) == [
        (REAL, "progan/car"),
        (FAKE, "progan/car"),
    ]


def test_csv_manifest_with_relative_paths(tmp_path: Path) -> None:
    _img(tmp_path / "imgs" / "p.png")
    _img(tmp_path / "imgs" / "q.png")
    manifest = tmp_path / "set.csv"
    manifest.write_text("path,label,source\nimgs/p.png,real,cam\nimgs/q.png,generated,sdxl\n")
    samples = discover(data=[manifest])
    assert [(s.path, s.label, s.source) for s in samples] == [
        (tmp_path / "imgs" / "p.png", REAL, "cam"),
        (tmp_path / "imgs" / "q.png", FAKE, "sdxl"),
    ]


def test_missing_class_and_bad_labels_are_usage_errors(tmp_path: Path) -> None:
    _img(tmp_path / "real" / "a.png")
    with pytest.raises(UsageError, match="no fake images"):
        discover(real=[tmp_path / "real"])
    with pytest.raises(UsageError, match="neither real"):
        parse_label("maybe", "row 2")
    with pytest.raises(UsageError, match="not a folder"):
        discover(real=[tmp_path / "nope"], fake=[tmp_path / "real"])


def test_thin_keeps_at_most_limit_per_class_and_source_evenly_spaced() -> None:
    from synthmark.eval.datasets import FAKE, REAL, Sample, thin

    samples = [Sample(Path(f"r{i}.png"), REAL, "cam") for i in range(10)]
    samples += [Sample(Path(f"f{i}.png"), FAKE, "sd") for i in range(3)]
    kept = thin(samples, 4)
    assert [s.path.name for s in kept] == [
        "r0.png", "r2.png", "r5.png", "r7.png", "f0.png", "f1.png", "f2.png"
    ]
