"""synthmark.detect.preprocess: grid-aligned crops and tiles, and images too small for them."""

from __future__ import annotations

import numpy as np
import pytest

from synthmark.detect import Detector
from synthmark.detect.preprocess import Preprocess, grid_crop
from synthmark.errors import ImageTooSmall
from tests import hostile


def test_preprocess_crops_on_the_grid_and_refuses_tiny_images() -> None:
    im = hostile.photo_like((1100, 700))
    cropped = grid_crop(im, 512)
    assert cropped.size == (512, 512)
    # Offsets are multiples of 8: the crop equals the source at an aligned position.
    src = np.asarray(im)
    out = np.asarray(cropped)
    left, top = ((1100 - 512) // 2) // 8 * 8, ((700 - 512) // 2) // 8 * 8
    assert np.array_equal(out, src[top : top + 512, left : left + 512])
    assert Preprocess(quality=75, max_side=512)(im).size == (512, 512)
    with pytest.raises(ImageTooSmall, match="at least 64"):
        Preprocess(min_side=64)(hostile.photo_like((40, 200)))


def test_tiles_are_grid_aligned_and_bounded() -> None:
    det = Detector(tile=64, max_tiles=4, canonical_quality=None)
    tiles = det.tiles(hostile.photo_like((300, 200)))
    assert len(tiles) == 4 and all(t.size == (64, 64) for t in tiles)
    small = det.tiles(hostile.photo_like((50, 40)))
    assert len(small) == 1 and small[0].size == (40, 40)
