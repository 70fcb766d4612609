"""The scheme interface's read-back check (:mod:`synthmark.watermark.base`): a mark that
does not read back is an error, never a skip.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from synthmark.errors import WatermarkError
from synthmark.watermark import (
    WatermarkScheme,
    get_scheme,
)
from tests import hostile
from tests.watermark_images import KEY, PAYLOAD


def test_embed_checked_falls_back_and_never_returns_an_unread_mark(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    from PIL import ImageDraw

    from synthmark.watermark.base import embed_checked
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)

    class Unreadable(TiledScheme):
        """Embeds nothing; its fallbacks are given."""

        def __init__(self, falls: list[WatermarkScheme]) -> None:
            super().__init__(KEY)
            self.falls = falls

        def embed(self, image: Image.Image, payload: bytes) -> Image.Image:
            return image.copy()

        def fallbacks(self) -> list[WatermarkScheme]:
            return self.falls

    # the default's fallback drops the bright-pixel mask, and the default decoder reads it
    (fallback,) = synthmark_scheme.fallbacks()
    assert isinstance(fallback, TiledScheme) and fallback.design.bright_floor == 1.0
    assert fallback.fallbacks() == []
    marked = embed_checked(Unreadable([fallback]), photo, PAYLOAD)
    assert synthmark_scheme.extract(marked).payload == PAYLOAD
    assert not np.array_equal(np.asarray(marked), np.asarray(photo))
    # nothing reads: an error naming the hint, never an unmarked image
    with pytest.raises(WatermarkError, match=r"did not read back .*too flat"):
        embed_checked(Unreadable([]), photo, PAYLOAD)
    text = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(text)
    for i in range(10):
        draw.text((20, 20 + 30 * i), "Lorem ipsum dolor sit amet, consectetur " * 2, fill="black")
    with pytest.raises(WatermarkError, match="PNG or a higher"):
        embed_checked(synthmark_scheme, text, PAYLOAD, hint="try PNG or a higher --quality")
    # the read is made from what will be delivered
    seen: list[tuple[int, int]] = []

    def delivered(image: Image.Image) -> Image.Image:
        seen.append(image.size)
        return image

    embed_checked(synthmark_scheme, photo, PAYLOAD, delivered)
    assert seen == [photo.size]


def test_check_readback_refuses_a_mark_that_does_not_read_back() -> None:
    from PIL import ImageDraw

    from synthmark.watermark.base import check_readback

    scheme = get_scheme("synthmark", key=bytes(range(32)))
    payload = bytes.fromhex("00000000000004d2")
    text = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(text)
    for i in range(10):
        draw.text((20, 20 + 30 * i), "Lorem ipsum dolor sit amet, consectetur " * 2, fill="black")
    with pytest.raises(WatermarkError, match=r"did not read back .*too flat"):
        check_readback(scheme, scheme.embed(text, payload), payload)
    photo = hostile.photo_like((512, 512))
    marked = scheme.embed(photo, payload)
    assert check_readback(scheme, marked, payload).payload == payload
    with pytest.raises(WatermarkError, match="status present"):  # another payload
        check_readback(scheme, marked, bytes(8))


def test_read_back_skips_the_search_yet_reads_as_extract_does(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    from unittest import mock

    from synthmark.watermark.tiled import scheme as tiled

    for size in [(512, 512), (640, 400), (300, 300)]:
        marked = synthmark_scheme.embed(photo.resize(size), PAYLOAD)
        full = synthmark_scheme.extract(marked)
        with mock.patch.object(tiled, "find_lattices", side_effect=AssertionError("searched")):
            quick = synthmark_scheme.read_back(marked)
        assert quick.present and quick.payload == PAYLOAD
        assert (quick.p_value, quick.details) == (full.p_value, full.details)
    # off the nominal lattices (a turned copy), the full read decides, search and all
    turned = marked.rotate(7, resample=Image.Resampling.BICUBIC)
    with mock.patch.object(tiled, "find_lattices", wraps=tiled.find_lattices) as search:
        assert synthmark_scheme.read_back(turned) == synthmark_scheme.extract(turned)
    assert search.called
    assert not synthmark_scheme.read_back(photo).present


@pytest.mark.parametrize("gate", [1.0, 1e9])
def test_read_back_with_the_nominal_gate_on_reads_as_extract_does(
    photo: Image.Image, gate: float
) -> None:
    """``TileDesign.nominal_gate`` ships off; switched on, ``read_back`` gates the nominal
    lattices by their keyless score exactly as ``extract`` does, down to a gate that no
    lattice reaches (the full read then decides)."""
    from dataclasses import replace

    from synthmark.watermark.tiled import TileDesign, TiledScheme

    assert TileDesign().nominal_gate == 0.0
    scheme = TiledScheme(KEY, replace(TileDesign(), nominal_gate=gate))
    marked = scheme.embed(photo, PAYLOAD)
    quick, full = scheme.read_back(marked), scheme.extract(marked)
    assert quick.present and quick.payload == PAYLOAD
    assert (quick.p_value, quick.details) == (full.p_value, full.details)
