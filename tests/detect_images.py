"""Tiny detector data for the detector tests (a pytest plugin, see ``conftest.py``): smooth
noisy pictures, the generated ones carrying a fixed 8x8 pattern, and a detector fitted on
them (the ``fitted`` fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.detect import Detector
from tests import hostile

SIDE = 96


def _pattern() -> np.ndarray:
    """A fixed 8x8 additive pattern, the kind a latent decoder leaves."""
    rng = np.random.default_rng(1234)
    tile = rng.choice([-1.0, 1.0], size=(8, 8)) * 7.0
    return np.tile(tile, (SIDE // 8, SIDE // 8))[..., None]


def tiny_image(label: int, seed: int) -> Image.Image:
    """A smooth noisy picture; label 1 adds the grid pattern."""
    base = np.asarray(hostile.photo_like((SIDE, SIDE), seed=seed), dtype=np.float64)
    if label:
        base = base + _pattern()
    return Image.fromarray(np.clip(np.rint(base), 0, 255).astype(np.uint8), "RGB")


def tiny_set(n_per_class: int, offset: int = 0) -> tuple[list[Image.Image], list[str]]:
    images, labels = [], []
    for i in range(n_per_class):
        for label in (0, 1):
            images.append(tiny_image(label, seed=offset + 2 * i + label))
            labels.append("generated" if label else "real")
    return images, labels


def tiny_folders(root: Path, n: int) -> tuple[Path, Path]:
    """``root/real`` and ``root/fake`` with ``n`` tiny images each."""
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    for i in range(n):
        tiny_image(0, seed=2 * i).save(real / f"photo_{i:03d}.png")
        tiny_image(1, seed=2 * i + 1).save(fake / f"gen_{i:03d}.png")
    return real, fake


def tiny_detector(**params: object) -> Detector:
    defaults: dict[str, object] = {"tile": 64, "max_tiles": 1, "cv": 3, "target_fpr": 0.1}
    defaults.update(params)
    return Detector(**defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="module")


def fitted() -> Detector:
    images, labels = tiny_set(12)
    return tiny_detector().fit(images, labels)
