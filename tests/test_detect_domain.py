"""The detector abstains on images without the texture it reads (blank, gradients, text)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.detect import load_detector
from synthmark.detect.predict import predict_paths
from synthmark.errors import OutsideDomain
from synthmark.samples import sample_photos


def _flat_images() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    text = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(text)
    for i in range(30):
        draw.text((10, 10 + 19 * i), f"Lorem ipsum dolor sit amet, line {i}", fill="black")
    ramp = np.tile(np.linspace(0, 255, 512, dtype=np.float32), (512, 1))
    noise = 250 + rng.integers(-2, 3, (512, 512, 3))
    return {
        "white.png": Image.new("RGB", (512, 512), "white"),
        "black.png": Image.new("RGB", (512, 512), "black"),
        "gradient.png": Image.fromarray(np.stack([ramp] * 3, -1).astype(np.uint8)),
        "near_white_noise.png": Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)),
        "text.png": text,
    }


@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("flat")
    for name, image in _flat_images().items():
        image.save(folder / name)
    return folder


def test_default_detector_refuses_flat_images_and_scores_photos(flat_dir: Path) -> None:
    detector = load_detector()
    for image in _flat_images().values():
        # Outside the training domain the score means nothing (the earlier grid-only default
        # model scored a blank page and a text screenshot 1.00 "generated"), so it abstains.
        with pytest.raises(OutsideDomain, match="does not apply"):
            detector.check_applicable(image)
    photos = sample_photos()
    for photo in photos:
        detector.check_applicable(Image.open(photo).convert("RGB"))
    results = list(predict_paths(detector, [*sorted(flat_dir.iterdir()), *photos]))
    flat, real = results[:5], results[5:]
    assert all(r.label == "abstained" and "does not apply" in (r.abstained or "") for r in flat)
    assert all(r.error is None for r in flat)  # abstaining is an answer, not a failure
    assert all(r.error is None and r.probability is not None for r in real)


def test_screen_does_not_call_a_blank_image_synthetic(
    flat_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMARK_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["screen", str(flat_dir / "white.png"), str(flat_dir / "text.png"), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["verdict"] for r in records] == ["no_evidence", "no_evidence"]
    for record in records:
        text = json.dumps(record)
        assert "does not apply" in text
