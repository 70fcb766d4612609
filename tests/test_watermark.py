"""Watermark schemes: round trips, keys, unmarked images, wrong keys, sizes and errors.

Robustness is measured by ``synthmark watermark bench``; here a few attacks only check that
the geometry and decoding paths work end to end.
"""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.errors import ImageTooSmall, KeyMissing, UsageError, WatermarkError
from synthmark.settings import Settings
from synthmark.watermark import (
    WatermarkScheme,
    WatermarkStatus,
    get_scheme,
    list_schemes,
    read_all,
)
from synthmark.watermark.ecc import ConvCode, bits_to_bytes, bytes_to_bits, crc16, crc24
from synthmark.watermark.keys import create_key, key_id, load_key
from synthmark.watermark.quality import psnr, ssim
from tests import hostile

KEY = bytes(range(32))
PAYLOAD = (0x0123456789ABCDEF).to_bytes(8, "big")


def _square(path: Path, size: int = 512) -> Image.Image:
    image = Image.open(path).convert("RGB")
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return image.crop(box).resize((size, size), Image.Resampling.LANCZOS)


@pytest.fixture(scope="module")
def photo(shared_data: Path) -> Image.Image:
    return _square(shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg")


@pytest.fixture(scope="module")
def dwt_friendly(shared_data: Path) -> Image.Image:
    """dwtDct itself misreads some clean images (see the benchmark); this one it reads."""
    return _square(shared_data / "detector/real_unsplash_men/man_unsplash_00340.jpg")


@pytest.fixture(scope="module")
def generated(shared_data: Path) -> Image.Image:
    folder = shared_data / "detector/sd15_sd21base_classimages/photo_of_a_landscape"
    return _square(sorted(folder.glob("*.jpg"))[0])


@pytest.fixture(scope="module")
def synthmark_scheme() -> WatermarkScheme:
    return get_scheme("synthmark", key=KEY)


@pytest.fixture(scope="module")
def marked(synthmark_scheme: WatermarkScheme, photo: Image.Image) -> Image.Image:
    return synthmark_scheme.embed(photo, PAYLOAD)


# -- registry -----------------------------------------------------------------------------


def test_registry_names_match_the_cli_choices() -> None:
    from synthmark.cli.watermark import KEY_ENV as CLI_KEY_ENV
    from synthmark.cli.watermark import ReadScheme, Scheme
    from synthmark.watermark.keys import KEY_ENV

    assert CLI_KEY_ENV == KEY_ENV
    assert [s.value for s in Scheme] == list_schemes()
    assert [s.value for s in ReadScheme] == ["auto", *list_schemes()]


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown watermark scheme 'dwtdct'; known: synthmark"):
        get_scheme("dwtdct")


def test_keyed_scheme_without_key_is_refused() -> None:
    with pytest.raises(KeyMissing, match="keygen"):
        get_scheme("synthmark")


def test_short_keys_are_refused() -> None:
    with pytest.raises(UsageError, match="16 bytes"):
        get_scheme("synthmark", key=b"short")


# -- synthmark ----------------------------------------------------------------------------


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


# -- the comparison schemes and SD's public marks ------------------------------------------


@pytest.mark.parametrize("name", ["dwtDct", "dwtDctSvd", "sd1", "sd2", "sdxl"])
def test_round_trip_invisible_watermark_schemes(name: str, dwt_friendly: Image.Image) -> None:
    scheme = get_scheme(name)
    payload = bytes(range(7, 7 + scheme.payload_bytes))
    readout = scheme.extract(scheme.embed(dwt_friendly, payload))
    assert readout.status is WatermarkStatus.PRESENT, readout.details
    if scheme.payload_bits:
        assert readout.payload == payload


@pytest.mark.slow
def test_round_trip_rivagan(photo: Image.Image) -> None:
    scheme = get_scheme("rivaGan")
    payload = b"\x5a\xc3\x0f"
    readout = scheme.extract(scheme.embed(photo, payload))
    assert readout.status is WatermarkStatus.PRESENT and readout.payload == payload


@pytest.mark.parametrize("name", ["dwtDct", "dwtDctSvd", "sd1", "sd2", "sdxl"])
def test_unmarked_image_reads_absent_for_public_schemes(name: str, generated: Image.Image) -> None:
    assert get_scheme(name).extract(generated).status is WatermarkStatus.ABSENT


@pytest.mark.parametrize("name", ["dwtDct", "dwtDctSvd", "rivaGan", "sd1", "sd2", "sdxl"])
def test_invisible_watermark_schemes_refuse_small_images(name: str) -> None:
    scheme = get_scheme(name)
    with pytest.raises(ImageTooSmall, match=f"scheme '{name}' needs at least 256 px"):
        scheme.embed(hostile.photo_like((255, 400)), bytes(scheme.payload_bytes))


def test_vectorised_dwtdct_decoder_matches_invisible_watermark(photo: Image.Image) -> None:
    from synthmark.watermark.invisible import (
        _bgr,
        dwtdct_block_scores,
        load_imwatermark_module,
        votes_to_bits,
    )

    module = load_imwatermark_module("maxDct")
    marked = get_scheme("sdxl").embed(photo, b"")
    for image in (photo, marked):
        bgr = _bgr(image)
        for n in (136, 48, 32):
            ours, _ = votes_to_bits(dwtdct_block_scores(bgr), n)
            theirs = module.EmbedMaxDct([], wmLen=n, scales=[0, 36, 36], block=4).decode(bgr)
            assert np.array_equal(ours, np.asarray(theirs, np.uint8))


def test_read_all_reports_ours_and_the_public_marks(
    marked: Image.Image, dwt_friendly: Image.Image
) -> None:
    readouts = read_all(marked, KEY)
    assert [r.scheme for r in readouts] == ["synthmark", "sd1", "sd2", "sdxl"]
    assert readouts[0].payload == PAYLOAD
    assert all(r.status is WatermarkStatus.ABSENT for r in readouts[1:])
    sdxl = read_all(get_scheme("sdxl").embed(dwt_friendly, b""), None)
    assert [r.scheme for r in sdxl] == ["sd1", "sd2", "sdxl"]
    assert sdxl[2].status is WatermarkStatus.PRESENT
    assert sdxl[0].status is WatermarkStatus.ABSENT


def test_read_all_on_a_thumbnail_reads_absent() -> None:
    readouts = read_all(hostile.photo_like((100, 80)), KEY)
    assert all(r.status is WatermarkStatus.ABSENT for r in readouts)
    assert "at least 128 px" in readouts[0].details["note"]


def test_reading_does_not_import_torch(tmp_path: Path, marked: Image.Image) -> None:
    path = tmp_path / "m.png"
    marked.save(path)
    code = (
        "import sys\n"
        "from PIL import Image\n"
        "from synthmark.watermark import read_all\n"
        f"r = read_all(Image.open({str(path)!r}).convert('RGB'), bytes(range(32)))\n"
        "assert r[0].status.value == 'present', r[0]\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- keys ------------------------------------------------------------------------------------


def test_key_file_is_private_and_round_trips(synthmark_home: Path) -> None:
    settings = Settings.from_env()
    key = create_key(settings)
    path = settings.keys_dir / "watermark.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
    assert load_key(settings) == key and len(key) == 32
    assert key.hex() not in key_id(key)


def test_existing_key_is_not_replaced_without_force(synthmark_home: Path) -> None:
    settings = Settings.from_env()
    key = create_key(settings)
    with pytest.raises(UsageError, match="already exists") as info:
        create_key(settings)
    assert "pass --force (force=True in Python)" in str(info.value)
    assert load_key(settings) == key
    assert create_key(settings, force=True) != key


def test_missing_or_garbage_key_raises_key_missing(tmp_path: Path, synthmark_home: Path) -> None:
    settings = Settings.from_env()
    with pytest.raises(KeyMissing, match="synthmark watermark keygen"):
        load_key(settings)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    with pytest.raises(KeyMissing, match="not a synthmark watermark key"):
        load_key(settings, garbage)


def test_key_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere" / "wm.key"
    monkeypatch.setenv("SYNTHMARK_WATERMARK_KEY", str(path))
    key = create_key(Settings.from_env())
    assert path.exists() and load_key(Settings.from_env()) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# -- error control ---------------------------------------------------------------------------


def test_convolutional_code_corrects_noise_and_crc_catches_errors() -> None:
    rng = np.random.default_rng(3)
    code = ConvCode((0o557, 0o663, 0o711), 9)
    info = rng.integers(0, 2, 80).astype(np.uint8)
    soft = 1.0 - 2.0 * code.encode(info) + rng.normal(0, 0.8, code.coded_length(80))
    decoded, _ = code.decode(soft, 80)
    assert np.array_equal(decoded, info)
    bits = bytes_to_bits(PAYLOAD)
    flipped = bits.copy()
    flipped[5] ^= 1
    assert not np.array_equal(crc16(bits), crc16(flipped))
    assert bits_to_bytes(bits) == PAYLOAD
    assert not np.array_equal(crc16(np.zeros(64, np.uint8)), np.zeros(16, np.uint8))


def test_list_viterbi_returns_the_best_codewords_in_order() -> None:
    """Against every codeword of a short code: the list holds the ``size`` codewords of
    highest correlation with the soft values, best first, and its first is Viterbi's."""
    import itertools

    rng = np.random.default_rng(1)
    code = ConvCode((0o133, 0o171, 0o165), 7)
    words = [np.array(b, np.uint8) for b in itertools.product((0, 1), repeat=8)]
    signs = np.array([1.0 - 2.0 * code.encode(b) for b in words])
    for _ in range(10):
        soft = rng.normal(size=code.coded_length(8))
        metrics = signs @ soft
        order = np.argsort(-metrics)[:12]
        listed = code.decode_list(soft, 8, 12)
        assert [m for _, m in listed] == pytest.approx(metrics[order].tolist())
        assert all(np.array_equal(b, words[i]) for (b, _), i in zip(listed, order, strict=True))
        assert np.array_equal(listed[0][0], code.decode(soft, 8)[0])
    # a code with 4 codewords has no fifth; a list of none is refused
    assert len(code.decode_list(rng.normal(size=code.coded_length(2)), 2, 8)) == 4
    with pytest.raises(ValueError, match="list size"):
        code.decode_list(soft, 8, 0)


def test_crcs_match_their_published_check_values() -> None:
    """The catalogued check value of each CRC: its register over the ASCII "123456789"."""
    check = bytes_to_bits(b"123456789")
    assert bits_to_bytes(crc16(check)).hex() == "29b1"  # CRC-16/CCITT-FALSE
    assert bits_to_bytes(crc24(check)).hex() == "21cf02"  # CRC-24/OpenPGP (RFC 4880)
    assert not np.array_equal(crc24(np.zeros(64, np.uint8)), np.zeros(24, np.uint8))


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
    busy = _square(shared_data / "detector/real_cbsd68/167083.png")
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


# -- the false-positive bound ----------------------------------------------------------------


def test_phase_tail_bound_holds_and_beats_the_gaussian_form() -> None:
    from synthmark.watermark.tiled import phase_tail_bound

    rng = np.random.default_rng(0)
    sums = np.cos(rng.uniform(0, 2 * np.pi, (100_000, 16))).sum(axis=1)
    for c in (2.0, 5.0, 8.0, 10.0):
        bound = phase_tail_bound(c, 16)
        assert float(np.mean(sums >= c)) <= bound <= np.exp(-c * c / 16) + 1e-12
    assert phase_tail_bound(-1.0, 16) == 1.0
    assert phase_tail_bound(16.0, 16) == 0.0  # the sum of 16 cosines never exceeds 16


def test_phase_tail_bound_is_the_chernoff_minimum() -> None:
    from scipy.special import i0e

    from synthmark.watermark.tiled import phase_tail_bound

    t = np.linspace(1e-3, 60.0, 600_001)
    for n, c in ((64, 20.0), (64, 40.0), (64, 63.0), (16, 3.0)):
        grid_min = float(np.min(-t * c + n * (np.log(i0e(t)) + t)))
        assert math.log(phase_tail_bound(c, n)) == pytest.approx(grid_min, abs=1e-6)


def _faint(photo: Image.Image, marked: Image.Image, strength: float, seed: int) -> Image.Image:
    """``photo`` plus ``strength`` times the mark's change, dithered to 8 bits."""
    host = np.asarray(photo, np.float32)
    change = np.asarray(marked, np.float32) - host
    dither = np.random.default_rng(seed).uniform(0.0, 1.0, host.shape)
    faint = np.clip(np.floor(host + strength * change + dither), 0, 255)
    return Image.fromarray(faint.astype(np.uint8))


@pytest.fixture(scope="module")
def plain_marked(photo: Image.Image) -> Image.Image:
    """The photo marked without the payload's keyed offset (as before variants): the faint
    marks below were found by sweeps over this pattern. The decoder reads both alike."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    return TiledScheme(KEY, replace(TileDesign(), variants=False)).embed(photo, PAYLOAD)


def test_a_faint_mark_reads_on_its_crc_alone(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, plain_marked: Image.Image
) -> None:
    """A mark at 9.5% of its strength: its sync score is below what a 16-bit CRC would
    need, but a decode that passes the 24-bit CRC is vouched for by the CRC alone (at 9%
    this dither decodes nothing)."""
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    marked = plain_marked
    readout = synthmark_scheme.extract(_faint(photo, marked, 0.095, seed=0))
    assert readout.status is WatermarkStatus.PRESENT
    assert readout.payload == PAYLOAD
    stage = readout.details["stage"]
    limits16 = TiledScheme(KEY, replace(synthmark_scheme.design, crc_bits=16)).thresholds()
    needed = limits16["present" if stage == "candidates" else f"present_{stage}"]
    assert readout.details["sync_z"] < needed
    assert readout.p_value == pytest.approx(synthmark_scheme.max_decodes * 2.0**-24)
    assert readout.p_value <= synthmark_scheme.design.alpha


def test_list_decoding_reads_a_mark_whose_best_word_fails_the_crc(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, plain_marked: Image.Image
) -> None:
    """A mark at 9.6% of its strength (this dither found by a sweep): the most likely
    word fails the CRC, one of the next four (list Viterbi) passes it and is the payload.
    Without the list the read finds nothing; with it the p-value counts the list's five
    words."""
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    faint = _faint(photo, plain_marked, 0.096, seed=5)
    single = TiledScheme(KEY, replace(synthmark_scheme.design, list_size=1))
    assert single.extract(faint).status is not WatermarkStatus.PRESENT
    readout = synthmark_scheme.extract(faint)
    assert readout.status is WatermarkStatus.PRESENT
    assert readout.payload == PAYLOAD
    assert readout.details["list_decoded"] is True
    assert readout.details["sync_z"] >= synthmark_scheme.design.list_gate
    # each of the list's words may pass the CRC by chance: five times a single word's bound
    one_word = synthmark_scheme.bound.p_present(
        readout.details["sync_z"], readout.details["stage"]
    )
    assert readout.p_value == pytest.approx(5 * one_word, rel=1e-2)
    assert readout.p_value <= synthmark_scheme.design.alpha
    # four fewer words per read without the list
    assert single.max_decodes == synthmark_scheme.max_decodes - 4


def test_thresholds_follow_from_alpha(synthmark_scheme: WatermarkScheme) -> None:
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    bound = synthmark_scheme.bound
    limits = synthmark_scheme.thresholds()
    # A decode that passes the 24-bit CRC is evidence enough on its own: a read makes at
    # most max_decodes decodes, each of whose words is uniform on an unmarked image.
    assert d.crc_bits == 24
    assert synthmark_scheme.max_decodes * 2.0**-24 <= d.alpha
    assert limits["present"] == limits["present_refined"] == limits["present_scan"] == 0.0
    assert bound.p_present(0.0) == synthmark_scheme.max_decodes * 2.0**-24
    # From a high sync score on, the sync bound is the smaller one.
    high = bound.p_sync(5.0)
    assert bound.p_present(5.0) == pytest.approx(high * 2.0**-24, rel=1e-9)
    assert 3.0 < limits["damaged"] < 6.0
    assert bound.p_sync(limits["damaged"]) == pytest.approx(1e-6, rel=1e-3)
    # The three stages share alpha (weighted Bonferroni); the refined one counts its whole
    # grid for every candidate, the scan its grid for every scanned period, so each later
    # stage needs a higher score.
    assert limits["damaged"] < limits["damaged_refined"] < limits["damaged_scan"]
    for stage in ("refined", "scan"):
        p_stage = bound.p_sync(limits[f"damaged_{stage}"], stage)
        assert p_stage == pytest.approx(1e-6, rel=1e-3)
    first_share = 1.0 - d.refine_share - d.scan_share
    assert first_share > 0.5
    first = bound.p_sync(5.5)
    for stage, count, share in (
        ("refined", bound.n_refined_hypotheses, d.refine_share),
        ("scan", bound.n_scan_hypotheses, d.scan_share),
    ):
        ratio = count / bound.n_hypotheses
        later = bound.p_sync(5.5, stage)
        assert later == pytest.approx(first * ratio * first_share / share, rel=1e-9)
    # With a 16-bit CRC the sync score has to carry the rest of the evidence.
    short = TiledScheme(KEY, replace(d, crc_bits=16))
    limits16 = short.thresholds()
    assert 3.0 < limits16["present"] < limits16["damaged"] == limits["damaged"]
    assert limits16["present"] < limits16["present_refined"] < limits16["present_scan"]
    for stage in ("candidates", "refined", "scan"):
        suffix = "" if stage == "candidates" else f"_{stage}"
        p_at = short.bound.p_sync(limits16[f"present{suffix}"], stage) * 2.0**-16
        assert p_at == pytest.approx(1e-6, rel=1e-3)
    with pytest.raises(ValueError, match="crc_bits must be one of"):
        TiledScheme(KEY, replace(d, crc_bits=20))
    with pytest.raises(ValueError, match="unknown stage"):
        bound.p_sync(5.5, "everything")


def test_refinement_recovers_a_lattice_off_by_half_a_degree(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    """The keyed local search climbs back from a lattice the keyless search got slightly
    wrong (turned 0.55 degrees and scaled 0.8%) to the embedded one."""
    import math

    from synthmark.watermark.lattice import Lattice
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    sync = synthmark_scheme.sync
    rw, wt = synthmark_scheme.whitened(marked)

    def lattice(turn_deg: float, scale: float) -> Lattice:
        t = math.radians(math.degrees(math.atan2(1, 2)) + turn_deg)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return Lattice(basis=scale * d.step * math.sqrt(5.0) * rot, score=0.0)

    true = sync.align(rw, wt, lattice(0.0, 1.0))
    off = sync.align(rw, wt, lattice(0.55, 1.008))
    assert off.z < 0.85 * true.z
    found = sync.refine(rw, wt, off)
    assert found.z >= 0.95 * true.z
    # at 512 px the score is flat to within 1% around the truth in scale (7.8-7.9 from
    # -0.6% to +0.6% for this mark): the climb ends anywhere on that plateau
    assert abs(found.lattice.angle - true.lattice.angle) <= 0.3
    assert abs(found.lattice.period / true.lattice.period - 1.0) <= 0.007


def test_scan_finds_the_lattice_of_a_cropped_or_turned_mark(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, photo: Image.Image
) -> None:
    """The keyed scan, on its own, finds the lattice of a marked image cropped to 80% of
    its side and shrunk (the decode-space period grows by 1 / 0.8), and of one turned."""
    import math

    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    scan = synthmark_scheme.sync.scan
    w, h = marked.size
    side = round(0.8 * min(w, h))
    left, top = (w - side) // 3, (h - side) // 2
    cropped = marked.crop((left, top, left + side, top + side)).resize(
        (round(0.75 * side),) * 2, Image.Resampling.BICUBIC
    )
    found = scan(*synthmark_scheme.whitened(cropped))
    expected = d.step * 5**0.5 * min(w, h) / side
    assert abs(found.lattice.period / expected - 1.0) < 2 * d.scan_step
    assert found.z >= synthmark_scheme.thresholds()["damaged_scan"]  # sync alone is 1e-6
    # a rotation by 3 degrees (same size, black corners): the angle family finds it
    turned = marked.rotate(3.0, resample=Image.Resampling.BICUBIC)
    found = scan(*synthmark_scheme.whitened(turned))
    assert found.z >= synthmark_scheme.thresholds()["damaged_scan"]  # sync alone is 1e-6
    nominal_angle = math.degrees(math.atan2(1, 2))
    # PIL turns counter-clockwise on screen, which is clockwise in image coordinates
    assert abs((found.lattice.angle - (nominal_angle - 3.0) + 45.0) % 90.0 - 45.0) < 0.3
    # the same scan of the unmarked original stays below the gate
    assert scan(*synthmark_scheme.whitened(photo)).z < d.scan_gate


# -- the benchmark ----------------------------------------------------------------------------


def test_benchmark_runs_end_to_end(shared_data: Path) -> None:
    from synthmark.eval.watermark_bench import BenchConfig, run_benchmark
    from synthmark.eval.watermark_calibration import calibrate_public_marks, format_calibration
    from synthmark.eval.watermark_tables import format_markdown

    config = BenchConfig(
        data_dir=shared_data / "detector",
        schemes=["synthmark", "dwtDct"],
        attacks=["none", "jpeg:50"],
        sizes=[512],
        n_images=2,
        unmarked_limit=2,
        timing_2048=0,
    )
    result = run_benchmark(config)
    assert {(r.scheme, r.attack) for r in result.rows} == {
        (s, a) for s in ("synthmark", "dwtDct") for a in ("none", "jpeg:50")
    }
    ours = next(s for s in result.summaries if s.scheme == "synthmark")
    assert ours.n == 2 and ours.unmarked_reads == 6 and ours.false_positives == 0
    assert ours.psnr_min >= 40.0 and ours.wrong_key_positives == 0
    # three quarters of the change go to the centre half, so its own PSNR is lower
    assert ours.centre_psnr_min <= ours.centre_psnr_mean < ours.psnr_mean
    table = format_markdown(result)
    assert "| jpeg:50 |" in table and "| synthmark | 512 | 2 | 64 |" in table
    assert "centre-half PSNR mean (min)" in table
    cal = calibrate_public_marks(shared_data / "detector", limit=2, n_marked=1)
    assert set(cal) == {"sd1", "sd2", "sdxl"} and cal["sd1"]["unmarked_reads"] > 0
    assert "| sdxl | 48 | 41 |" in format_calibration(cal)


def test_benchmark_times_reads_of_marked_and_unmarked_images(shared_data: Path) -> None:
    """An unmarked image runs every stage of the decoder, so its read is timed too."""
    from synthmark.eval.watermark_bench import BenchConfig, BenchResult, _timing_2048
    from synthmark.eval.watermark_tables import format_markdown

    config = BenchConfig(data_dir=shared_data / "detector", schemes=["synthmark"], timing_2048=1)
    timing = _timing_2048(config, KEY, lambda _: None)
    assert set(timing) == {"512", "2048"}
    for size in timing.values():
        assert set(size) == {"embed_ms", "read_ms", "read_unmarked_ms"}
        assert all(ms > 0 for ms in size.values())
    text = format_markdown(BenchResult([], [], timing, {"timing_images": 1}))
    unmarked_512 = f"{timing['512']['read_unmarked_ms']:.0f} ms (target <= 50)"
    assert "the marked image / the unmarked original" in text and unmarked_512 in text


def test_benchmark_marks_images_as_generate_delivers_them(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    from synthmark.eval.watermark_bench import _as_shipped

    marked = synthmark_scheme.embed(photo, PAYLOAD)
    assert _as_shipped(synthmark_scheme, photo, PAYLOAD, marked) == (marked, False)
    # a first embedding that does not read back is replaced by the fallback's, as in generate
    shipped, fell_back = _as_shipped(synthmark_scheme, photo, PAYLOAD, photo)
    assert fell_back and shipped is not photo
    assert synthmark_scheme.extract(shipped).payload == PAYLOAD
    # a scheme without fallbacks keeps what it made, and so does one whose fallbacks fail
    dwt = get_scheme("dwtDct")
    assert _as_shipped(dwt, photo, b"", photo) == (photo, False)
    flat = Image.new("RGB", (512, 512), "white")
    assert _as_shipped(synthmark_scheme, flat, PAYLOAD, flat) == (flat, False)


# -- QA fixes: a named key is never skipped; marks are read back after embedding -------------


def test_find_key_is_none_only_when_no_key_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthmark.watermark.keys import KEY_ENV, find_key

    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = Settings.from_env(tmp_path / "home")
    assert find_key(settings) is None
    with pytest.raises(KeyMissing, match=r"nonexist\.key"):
        find_key(settings, tmp_path / "nonexist.key")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "nonexist.key"))
    with pytest.raises(KeyMissing, match=r"nonexist\.key"):
        find_key(Settings.from_env(tmp_path / "home"))
    monkeypatch.delenv(KEY_ENV)
    key = create_key(settings)
    assert find_key(settings) == key
    settings.keys_dir.joinpath("watermark.key").write_text("garbage\n")
    with pytest.raises(KeyMissing, match="not a synthmark watermark key"):
        find_key(settings)


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


def test_fine_lattice_scores_interpolate_the_spectrum_bilinearly() -> None:
    """The lattice scorer's bilinear reads (four gathers from a padded copy) match
    scipy's order-1 interpolation, with the vertical frequency wrapping around and the
    last column held, at random points and on both edges."""
    from scipy import ndimage

    from synthmark.watermark.lattice import LineScorer

    rng = np.random.default_rng(3)
    h, w = 48, 40
    q = rng.random((h, w // 2 + 1)).astype(np.float32)
    lines = np.array([[1, 0], [0, 1], [2, 1], [1, -2], [2, 0]])
    scorer = LineScorer(q, (h, w), lines)
    # |k| <= sqrt(5): from a period of 4.5 up every line is within half a cycle per pixel;
    # at 4, line (2, 0) falls on the last column (angle 0) or the Nyquist row (90 degrees)
    periods = np.concatenate([rng.uniform(4.5, 20.0, 60), [4.0, 4.0]])
    angles = np.concatenate([rng.uniform(-np.pi, np.pi, 60), [0.0, np.pi / 2]])
    y, x = scorer._coords(periods, angles)
    assert x.max() == pytest.approx(w / 2) and (np.floor(y) == h - 1).any()  # both edges
    # wrap vertically by stacking a copy of the first row; hold the last column
    padded = np.vstack([q, q[:1]]).astype(np.float64)
    expected = ndimage.map_coordinates(padded, [y.ravel(), x.ravel()], order=1, mode="nearest")
    expected = expected.reshape(y.shape).sum(axis=1) / (len(lines) * scorer.mean)
    np.testing.assert_allclose(scorer.fine(periods, angles), expected, rtol=1e-6)


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


# -- affine geometry ----------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["aspect:0.8", "aspect:1.25", "shear:5"])
def test_a_stretched_or_sheared_mark_reads(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, attack: str
) -> None:
    """No square lattice fits after an aspect change or a shear; the scan stage aligns the
    lattice whose basis the spectrum's autocorrelation gives."""
    readout = synthmark_scheme.extract(get_attack(attack).apply(marked))
    assert readout.status is WatermarkStatus.PRESENT and readout.payload == PAYLOAD
    assert readout.details["stage"] == "scan"


def test_affine_search_recovers_the_basis_of_a_stretched_lattice(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    import math

    from synthmark.watermark.affine import affine_lattices, reduce_basis
    from synthmark.watermark.lattice import line_scorer
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    stretched = get_attack("aspect:0.8").apply(marked)  # 512 x 410: decode space x 1/0.8
    rw, _ = synthmark_scheme.whitened(stretched)
    lines = np.concatenate([synthmark_scheme.layout.sync, synthmark_scheme.layout.data])
    found = affine_lattices(line_scorer(rw, lines, d.search), d.affine)
    assert found
    scale = 512 / 410
    truth = scale * np.diag([1.0, 410 / 512]) @ (d.step * np.array([[2.0, -1.0], [1.0, 2.0]]))
    # the same lattice: truth^-1 basis is an integer matrix of determinant +-1
    m = np.linalg.solve(truth, found[0].basis)
    assert np.abs(m - np.rint(m)).max() < 0.01
    assert abs(abs(np.linalg.det(np.rint(m))) - 1) < 1e-9
    # Lagrange-Gauss reduction finds the short basis of a skewed one
    a, b = reduce_basis(np.array([1.0, 0.0]), np.array([7.0, 1.0]))
    assert {tuple(np.abs(a)), tuple(np.abs(b))} == {(1.0, 0.0), (0.0, 1.0)}
    assert math.isclose(abs(float(a[0] * b[1] - a[1] * b[0])), 1.0)


# -- averaging resistance: a keyed offset per payload ----------------------------------------


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


# -- key rotation: one key writes, several read ------------------------------------------


def test_rotated_keys_still_read_and_the_bound_counts_every_key(
    tmp_path: Path, photo: Image.Image, plain_marked: Image.Image
) -> None:
    from synthmark.watermark import read_synthmark
    from synthmark.watermark.keys import RETIRED_DIR, retired_keys, rotate_key

    settings = Settings(home=tmp_path / "home")
    old = create_key(settings)
    new = rotate_key(settings)
    assert new != old and load_key(settings) == new
    retired_file = settings.keys_dir / RETIRED_DIR / f"{key_id(old)}.key"
    assert stat.S_IMODE(retired_file.stat().st_mode) == 0o600
    assert retired_keys(settings) == [old]
    marked = get_scheme("synthmark", key=old).embed(photo, PAYLOAD)
    assert not get_scheme("synthmark", key=new).extract(marked).present
    readout = read_synthmark(marked, new, retired_keys(settings))
    assert readout.present and readout.payload == PAYLOAD
    assert readout.details["key_id"] == key_id(old) and readout.details["keys_read"] == 2
    single = get_scheme("synthmark", key=old).extract(marked)
    assert readout.p_value == pytest.approx(2 * single.p_value)
    # a faint mark that one key vouches for on its CRC alone (16 x 2^-24 = 9.5e-7) is no
    # longer within 1e-6 when two keys were read
    faint = _faint(photo, plain_marked, 0.095, seed=0)
    assert read_synthmark(faint, KEY).present
    doubled = read_synthmark(faint, KEY, [old])
    assert doubled.status is WatermarkStatus.DAMAGED and doubled.payload is None
    assert "joint false-positive bound" in doubled.details["note"]
    # the CLI: rotate, and read an old mark through the retired key
    env = {"SYNTHMARK_HOME": str(settings.home)}
    path = tmp_path / "old.png"
    marked.save(path)
    out = subprocess.run(
        [sys.executable, "-m", "synthmark", "watermark", "keygen", "--rotate", "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(retired_keys(settings)) == 2
    read = subprocess.run(
        [sys.executable, "-m", "synthmark", "watermark", "read", str(path), "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )
    assert read.returncode == 0, read.stderr
    assert '"status": "present"' in read.stdout and PAYLOAD.hex() in read.stdout
