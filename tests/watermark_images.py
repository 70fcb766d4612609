"""Images and a key for the watermark tests (a pytest plugin, see ``conftest.py``): a photo,
one that invisible-watermark's dwtDct reads, a Stable Diffusion image, and the photo marked
with synthmark's scheme under :data:`KEY`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from synthmark.watermark import WatermarkScheme, get_scheme

KEY = bytes(range(32))
PAYLOAD = (0x0123456789ABCDEF).to_bytes(8, "big")


def square(path: Path, size: int = 512) -> Image.Image:
    """The centred square of the image at ``path``, resized to ``size``."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return image.crop(box).resize((size, size), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> Image.Image:
    return square(shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg")


@pytest.fixture(scope="module")
def dwt_friendly(shared_data: Path) -> Image.Image:
    """dwtDct itself misreads some clean images (see the benchmark); this one it reads."""
    return square(shared_data / "detector/real_unsplash_men/man_unsplash_00340.jpg")


@pytest.fixture(scope="module")
def generated(shared_data: Path) -> Image.Image:
    folder = shared_data / "detector/sd15_sd21base_classimages/photo_of_a_landscape"
    return square(sorted(folder.glob("*.jpg"))[0])


@pytest.fixture(scope="module")
def synthmark_scheme() -> WatermarkScheme:
    return get_scheme("synthmark", key=KEY)


@pytest.fixture(scope="module")
def marked(synthmark_scheme: WatermarkScheme, photo: Image.Image) -> Image.Image:
    return synthmark_scheme.embed(photo, PAYLOAD)


@pytest.fixture(scope="module")
def plain_marked(photo: Image.Image) -> Image.Image:
    """The photo marked without the payload's keyed offset (as before variants): the faint
    marks of test_watermark_bound were found by sweeps over this pattern. The decoder reads
    both alike."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    return TiledScheme(KEY, replace(TileDesign(), variants=False)).embed(photo, PAYLOAD)
