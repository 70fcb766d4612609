"""synthmark's own mark (:mod:`synthmark.watermark.tiled`): round trips, attacks, keys,
unmarked images, sizes and errors.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.errors import ImageTooSmall, UsageError, WatermarkError
from synthmark.watermark import (
    WatermarkScheme,
    WatermarkStatus,
    get_scheme,
)
from synthmark.watermark.quality import psnr, ssim
from tests import hostile
from tests.watermark_images import KEY, PAYLOAD


def test_short_keys_are_refused() -> None:
    with pytest.raises(UsageError, match="16 bytes"):
        get_scheme("synthmark", key=b"short")


def test_synthmark_round_trip_quality_and_bound(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, marked: Image.Image
) -> None:
    assert synthmark_scheme.payload_bits == 64
    assert marked.size == photo.size and marked.mode == "RGB"
    assert psnr(photo, marked) >= 40.0
    assert ssim(photo, marked) >= 0.98
    readout = synthmark_scheme.extract(marked)
    assert readout.status is WatermarkStatus.PRESENT
    assert readout.payload == PAYLOAD
    assert readout.p_value is not None and readout.p_value <= 1e-6


def test_embedding_is_deterministic(synthmark_scheme: WatermarkScheme, photo: Image.Image) -> None:
    first = np.asarray(synthmark_scheme.embed(photo, PAYLOAD))
    second = np.asarray(synthmark_scheme.embed(photo, PAYLOAD))
    assert np.array_equal(first, second)


@pytest.mark.parametrize(
    "attack", ["jpeg:50", "crop:0.5", "rotate:2", "hflip", "resize:0.5", "chain"]
)
def test_synthmark_survives_representative_attacks(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, attack: str
) -> None:
    readout = synthmark_scheme.extract(get_attack(attack).apply(marked))
    assert readout.status is WatermarkStatus.PRESENT, readout.details
    assert readout.payload == PAYLOAD


def test_wrong_key_reads_absent(marked: Image.Image) -> None:
    readout = get_scheme("synthmark", key=bytes(32)).extract(marked)
    assert readout.status is WatermarkStatus.ABSENT
    assert readout.payload is None
    assert readout.p_value is not None and readout.p_value > 1e-6


def test_unmarked_images_read_absent(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, generated: Image.Image
) -> None:
    for image in (photo, generated, get_attack("crop:0.5").apply(generated)):
        readout = synthmark_scheme.extract(image)
        assert readout.status is WatermarkStatus.ABSENT
        assert readout.payload is None


def test_many_keys_never_fire_on_an_unmarked_image(generated: Image.Image) -> None:
    rng = np.random.default_rng(0)
    for _ in range(12):
        scheme = get_scheme("synthmark", key=rng.bytes(32))
        assert scheme.extract(generated).status is WatermarkStatus.ABSENT


def test_heavily_damaged_mark_is_not_reported_present(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    noisy = get_attack("noise:60").apply(get_attack("jpeg:10").apply(marked))
    readout = synthmark_scheme.extract(noisy)
    assert readout.status is not WatermarkStatus.PRESENT or readout.payload == PAYLOAD


def test_other_sizes_and_modes(synthmark_scheme: WatermarkScheme, photo: Image.Image) -> None:
    wide = photo.resize((700, 300)).convert("L")  # greyscale, not square, under 512
    out = synthmark_scheme.embed(wide, PAYLOAD)
    assert out.mode == "RGB" and out.size == (700, 300)
    assert synthmark_scheme.extract(out).payload == PAYLOAD


def test_too_small_images_raise_clearly(synthmark_scheme: WatermarkScheme) -> None:
    tiny = hostile.photo_like((200, 300))
    with pytest.raises(ImageTooSmall, match=r"200x300.*at least 256 px"):
        synthmark_scheme.embed(tiny, PAYLOAD)
    with pytest.raises(ImageTooSmall, match=r"100x100.*at least 128 px"):
        synthmark_scheme.extract(hostile.photo_like((100, 100)))


def test_flat_white_image_refuses_instead_of_skipping(synthmark_scheme: WatermarkScheme) -> None:
    with pytest.raises(WatermarkError, match="black or white"):
        synthmark_scheme.embed(Image.new("RGB", (512, 512), (255, 255, 255)), PAYLOAD)


@pytest.mark.parametrize("payload", [b"", b"1234567", b"123456789"])
def test_wrong_payload_length_is_a_usage_error(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, payload: bytes
) -> None:
    with pytest.raises(UsageError, match="carries 64 bits"):
        synthmark_scheme.embed(photo, payload)


def test_key_is_not_in_repr() -> None:
    assert KEY.hex() not in repr(get_scheme("synthmark", key=KEY))


def test_a_grey_image_stays_grey(synthmark_scheme: WatermarkScheme, photo: Image.Image) -> None:
    """The change is split over R, G and B with colour (colour_mix), except on an image
    whose channels are equal everywhere: that one gets the same change in each, stays grey,
    and still meets the quality targets and reads back."""
    grey = photo.convert("L").convert("RGB")
    marked = synthmark_scheme.embed(grey, PAYLOAD)
    rgb = np.asarray(marked)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    assert not np.array_equal(rgb, np.asarray(grey))
    assert psnr(grey, marked) >= 40.0 and ssim(grey, marked) >= 0.98
    assert synthmark_scheme.extract(marked).payload == PAYLOAD
    # one pixel off grey, and the whole change is coloured again
    tinted = np.asarray(grey).copy()
    tinted[0, 0, 0] ^= 1
    coloured = np.asarray(synthmark_scheme.embed(Image.fromarray(tinted), PAYLOAD))
    assert not np.array_equal(coloured[..., 0], coloured[..., 1])


@pytest.mark.parametrize("attack", ["aspect:0.8", "aspect:1.25", "shear:5"])
def test_a_stretched_or_sheared_mark_reads(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, attack: str
) -> None:
    """No square lattice fits after an aspect change or a shear; the scan stage aligns the
    lattice whose basis the spectrum's autocorrelation gives."""
    readout = synthmark_scheme.extract(get_attack(attack).apply(marked))
    assert readout.status is WatermarkStatus.PRESENT and readout.payload == PAYLOAD
    assert readout.details["stage"] == "scan"


def test_marks_with_and_without_the_payload_offset_read_alike(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, plain_marked: Image.Image
) -> None:
    """Marks made before payload offsets (``variants=False``) still read, and the offset
    changes the pattern, not the decoder."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    old_reader = TiledScheme(KEY, replace(TileDesign(), variants=False))
    assert synthmark_scheme.extract(plain_marked).payload == PAYLOAD
    marked = synthmark_scheme.embed(photo, PAYLOAD)
    assert old_reader.extract(marked).payload == PAYLOAD
    assert not np.array_equal(np.asarray(marked), np.asarray(plain_marked))


def test_averaging_many_marks_no_longer_removes_them(shared_data: Path) -> None:
    """The averaging attack (mean residual of 10 marks with the same key and other
    payloads, subtracted at 32 dB) removes marks drawn without the payload's offset; with
    it, the marks share no fixed pattern and still read."""
    from synthmark.attacks.security import AveragingAttack
    from synthmark.eval.watermark_data import bench_images
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    images = [im for _, im in bench_images(shared_data / "detector", 512, 13, seed=3)]
    attack = AveragingAttack(10, psnr=32.0)
    survived = {}
    for variants in (False, True):
        scheme = TiledScheme(KEY, replace(TileDesign(), variants=variants))
        marks = [bytes([i, 7, 7, 7, 7, 7, 7, i]) for i in range(10)]
        pool = [scheme.embed(im, mark) for im, mark in zip(images[:10], marks, strict=True)]
        pattern = attack.estimate(pool)
        reads = 0
        for i, image in enumerate(images[10:]):
            payload = bytes([100 + i] * 8)
            cleaned = attack.apply(scheme.embed(image, payload), pattern)
            reads += scheme.extract(cleaned).payload == payload
        survived[variants] = reads
    assert survived[True] == 3 and survived[False] <= 1


def test_with_every_candidate_gated_out_the_scan_still_reads(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, photo: Image.Image
) -> None:
    """A read with no keyless candidate to align (on an unmarked image every one is
    usually under the gates) still runs the scan: a mark the scan finds reads present,
    and an unmarked image reads absent, reported at the scan's best alignment."""
    from synthmark.watermark.tiled import TiledScheme
    from synthmark.watermark.tiled.bound import Stage

    assert isinstance(synthmark_scheme, TiledScheme)
    scheme = synthmark_scheme
    for image, present in ((marked, True), (photo, False)):
        rw, wt = scheme.whitened(image)
        outcome = scheme.decoder.read(rw, wt, [], scheme.sync)
        assert outcome.stage is Stage.SCAN
        assert (outcome.status is WatermarkStatus.PRESENT) is present
        assert outcome.payload == (PAYLOAD if present else None)
