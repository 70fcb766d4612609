"""Where the mark's change goes (:mod:`synthmark.watermark.tiled.budget` and
:mod:`~synthmark.watermark.tiled.pattern`): colour split, masks, PSNR and SSIM budgets.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.watermark import (
    WatermarkScheme,
)
from synthmark.watermark.quality import psnr, ssim
from tests.watermark_images import KEY, PAYLOAD, square


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_the_change_is_split_over_rgb_as_designed(photo: Image.Image, mix: float) -> None:
    """Each channel moves by its gain times the luminance change (grey at mix 0), the
    luminance change is what the decoder reads, and PSNR and SSIM stay on target whatever
    the split (they count every channel)."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    design = replace(TileDesign(), colour_mix=mix)
    gains = np.array(design.channel_gains)
    assert float(gains @ [0.299, 0.587, 0.114]) == pytest.approx(1.0)
    scheme = TiledScheme(KEY, design)
    marked = scheme.embed(photo, PAYLOAD)
    change = np.asarray(marked, np.float64) - np.asarray(photo, np.float64)
    luma = change @ [0.299, 0.587, 0.114]
    moved = np.abs(luma) >= 6.0  # where rounding to 8 bits is a small part of the change
    slopes = [
        float(change[..., c][moved] @ luma[moved] / (luma[moved] @ luma[moved])) for c in range(3)
    ]
    np.testing.assert_allclose(slopes, gains, atol=0.03)
    assert psnr(photo, marked) >= 40.0 and ssim(photo, marked) >= 0.98
    assert scheme.extract(marked).payload == PAYLOAD


def test_the_centre_half_carries_more_of_the_change(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    """``centre_boost`` moves a share of the change into the centred half of the image
    (what a 50% centre crop keeps): the mean square change there over the mean square
    outside grows by about ``(1 + b) / (1 - b)`` against an even spread, with the PSNR
    and SSIM of the whole image on target and the mark reading from the whole and the
    centre."""
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    b = synthmark_scheme.design.centre_boost
    assert 0.0 < b < 1.0
    even = TiledScheme(KEY, replace(synthmark_scheme.design, centre_boost=0.0))
    host = np.asarray(photo, np.float64)
    h, w = host.shape[:2]
    ch, cw = round(h * math.sqrt(0.5)), round(w * math.sqrt(0.5))
    inside = np.zeros((h, w), bool)
    inside[(h - ch) // 2 : (h + ch) // 2, (w - cw) // 2 : (w + cw) // 2] = True

    def centre_ratio(marked: Image.Image) -> float:
        ms = np.mean(np.square(np.asarray(marked, np.float64) - host), axis=-1)
        return float(ms[inside].mean() / ms[~inside].mean())

    boosted = synthmark_scheme.embed(photo, PAYLOAD)
    gain = centre_ratio(boosted) / centre_ratio(even.embed(photo, PAYLOAD))
    # the edges of the centre are ramped, so a little less than the full ratio
    assert 0.75 * (1 + b) / (1 - b) < gain <= 1.05 * (1 + b) / (1 - b)
    assert psnr(photo, boosted) >= 40.0 and ssim(photo, boosted) >= 0.98
    assert synthmark_scheme.extract(boosted).payload == PAYLOAD
    centre = get_attack("crop:0.5").apply(boosted)
    assert synthmark_scheme.extract(centre).payload == PAYLOAD


def test_large_images_leave_black_and_white_pixels_untouched(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    """Above the working resolution the change is made at 512 px and upsampled; pixels at
    0 or 255 in the full-resolution image still get none of it (a dark pixel beside an
    edge is grey at 512 px, and clipping there costs SSIM in dark areas)."""
    big = np.array(photo.resize((1024, 1024), Image.Resampling.BICUBIC))
    big[:, :300] = 0
    big[700:, :] = 255
    big[::7, 300:700] = 0  # thin black lines through the photo
    marked = np.asarray(synthmark_scheme.embed(Image.fromarray(big), PAYLOAD), np.int16)
    saturated = (big.min(axis=-1) == 0) | (big.max(axis=-1) == 255)
    assert saturated.mean() > 0.4
    assert np.array_equal(marked[saturated], big[saturated].astype(np.int16))
    assert np.abs(marked[~saturated] - big[~saturated]).mean() > 0.5  # the rest is marked


def test_busy_images_give_the_quiet_areas_more_of_the_mark(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, shared_data: Path
) -> None:
    """Where only the PSNR bound limits the strength (a busy photo), the mask also follows
    the decoder's weights, which favour quiet areas; where the SSIM bound binds (a smooth
    portrait), the mark is unchanged."""

    from synthmark.watermark.tiled import TileDesign, TiledScheme

    even = TiledScheme(KEY, replace(TileDesign(), quiet_power=0.0))
    assert np.array_equal(
        np.asarray(synthmark_scheme.embed(photo, PAYLOAD)), np.asarray(even.embed(photo, PAYLOAD))
    )
    busy = square(shared_data / "detector/real_cbsd68/167083.png")
    quiet, flat = synthmark_scheme.embed(busy, PAYLOAD), even.embed(busy, PAYLOAD)
    assert psnr(busy, quiet) >= 40.0 and ssim(busy, quiet) >= 0.98
    z_quiet = synthmark_scheme.extract(quiet).details["sync_z"]
    z_flat = synthmark_scheme.extract(flat).details["sync_z"]
    assert z_quiet > z_flat + 0.3


def test_the_mark_is_lighter_in_bright_pixels() -> None:
    """A brightness gain saturates bright pixels first, erasing what they carry: the mask
    gives them less of the change than mid-tones and dark tones."""

    from synthmark.watermark.tiled import TileDesign, TiledScheme

    ramp = np.tile(np.linspace(0, 255, 512, dtype=np.float32), (512, 1))
    grey = np.clip(ramp + np.random.default_rng(0).normal(0, 4, ramp.shape), 0, 255)
    image = Image.fromarray(np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1))

    def change_by_level(design: TileDesign) -> dict[str, float]:
        marked = TiledScheme(KEY, design).embed(image, PAYLOAD)
        change = np.abs(np.asarray(marked, np.float32) - np.asarray(image, np.float32))
        per_column = change[..., 0].mean(axis=0)
        level = ramp[0]
        bands = {"dark": (8, 24), "mid": (100, 150), "bright": (230, 250)}
        return {
            k: float(per_column[(level >= lo) & (level < hi)].mean())
            for k, (lo, hi) in bands.items()
        }

    # the levels run across the image, so the centre's extra share is left out here
    base = replace(TileDesign(), centre_boost=0.0)
    masked = change_by_level(base)
    assert masked["bright"] < 0.5 * masked["mid"] and masked["dark"] > 0.9 * masked["mid"]
    even = change_by_level(replace(base, bright_floor=1.0))
    assert even["bright"] > 0.6 * even["mid"]


def test_psnr_budget_lost_at_full_resolution_is_used() -> None:
    """A 1024 px image whose right half is made of black and white pixels only (2x2 blocks
    with 0-4 white ones), a busy texture at the 512 px working resolution where the mark is
    planned, but no headroom at full resolution: the change there is dropped and part of
    the PSNR budget goes unused. The change is scaled up once to use it, within the quality
    targets."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    rng = np.random.default_rng(0)
    pixels = np.clip(128 + rng.normal(0, 60, (1024, 1024, 3)), 0, 255).astype(np.uint8)
    whites = rng.integers(0, 5, (512, 256))
    order = rng.random((512, 256, 4)).argsort(-1)
    white = (order < whites[..., None]).reshape(512, 256, 2, 2).transpose(0, 2, 1, 3)
    pixels[:, 512:] = (white.reshape(1024, 512) * 255).astype(np.uint8)[..., None]
    image = Image.fromarray(pixels)
    topped = TiledScheme(KEY).embed(image, PAYLOAD)
    plain = TiledScheme(KEY, replace(TileDesign(), psnr_slack=99.0)).embed(image, PAYLOAD)
    assert psnr(image, topped) < psnr(image, plain) - 0.2
    for marked in (topped, plain):
        assert psnr(image, marked) >= 40.0 and ssim(image, marked) >= 0.98
    assert TiledScheme(KEY).extract(topped).payload == PAYLOAD


@pytest.mark.parametrize("shape", [(64, 64), (65, 97), (128, 51)])
def test_fast_paths_equal_the_plain_arithmetic(shape: tuple[int, int]) -> None:
    """The SSIM model's half-resolution moments (OpenCV's area resampling) and the bright
    mask's look-up table give bit for bit what the plain numpy steps give, odd sizes
    included (an odd last row or column is dropped)."""
    from synthmark.watermark.tiled import TileDesign
    from synthmark.watermark.tiled.budget import _bright_lut, _half, _half_moments

    rgb8 = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    full = np.moveaxis(rgb8, -1, 0).astype(np.float32)
    x, x2 = _half_moments(rgb8)
    assert x.shape == (3, shape[0] // 2, shape[1] // 2)
    assert np.array_equal(x, _half(full)) and np.array_equal(x2, _half(full * full))

    d = TileDesign()
    hi = rgb8.max(axis=-1)
    t = (hi.astype(np.float32) - np.float32(d.bright_knee)) / np.float32(255.0 - d.bright_knee)
    plain = np.float32(1.0) - np.float32(1.0 - d.bright_floor) * np.clip(t, 0.0, 1.0)
    assert np.array_equal(_bright_lut(d.bright_knee, d.bright_floor)[hi], plain)


@pytest.mark.parametrize("shape", [(32, 32), (3, 45, 70), (2, 3, 17, 9)])
def test_the_ssim_window_is_a_reflected_gaussian(shape: tuple[int, ...]) -> None:
    """The SSIM model's window (OpenCV's separable filter, a plane at a time) is the
    sampled Gaussian of SciPy's ``gaussian_filter`` with the same sigma, three taps each
    side and reflected borders, on every plane of any stack."""
    from scipy import ndimage

    from synthmark.watermark.tiled.budget import _HALF_SIGMA, _window

    a = np.random.default_rng(len(shape)).normal(0.0, 50.0, shape).astype(np.float32)
    got = _window(a)
    planes = a.reshape(-1, *shape[-2:]).astype(np.float64)
    want = np.stack(
        [ndimage.gaussian_filter(p, _HALF_SIGMA, truncate=3.0 / _HALF_SIGMA + 0.01) for p in planes]
    ).reshape(shape)
    assert got.shape == shape and got.dtype == np.float32
    assert np.abs(got - want).max() < 1e-4 * np.abs(a).max()
    assert not np.allclose(got, a, atol=1.0)  # it does blur
