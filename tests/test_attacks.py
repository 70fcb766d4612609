"""The shared attack registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.attacks import (
    ATTACKS,
    DETECTOR_GRID,
    WATERMARK_STRETCH_ATTACKS,
    WATERMARK_TARGET_ATTACKS,
    get_attack,
    list_attacks,
    parse_attacks,
)
from synthmark.errors import UsageError
from tests import hostile


@pytest.mark.parametrize(
    "name", sorted(set(WATERMARK_TARGET_ATTACKS + WATERMARK_STRETCH_ATTACKS + DETECTOR_GRID))
)
def test_every_listed_attack_runs_and_is_deterministic(name: str) -> None:
    image = hostile.photo_like((120, 80))
    attack = get_attack(name)
    first, second = attack.apply(image), attack.apply(image)
    assert first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert attack.name == name


@pytest.mark.parametrize("kind", [k for k in ATTACKS if ATTACKS[k].factory is None])
def test_every_registered_kind_runs_inside_its_range(kind: str) -> None:
    """Each kind (regen, which loads weights, has its own tests below), with a parameter a
    quarter into its declared range, gives a deterministic RGB image."""
    about = ATTACKS[kind]
    lo, hi = about.range if about.needs_param else (0.0, 0.0)
    name = f"{kind}:{lo + (hi - lo) / 4:g}" if about.needs_param else kind
    image = hostile.photo_like((120, 80))
    attack = get_attack(name)
    first, second = attack.apply(image), attack.apply(image)
    assert first.mode == "RGB" and attack.description == about.description
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_geometry_of_resize_and_crop() -> None:
    image = hostile.photo_like((200, 100))
    assert get_attack("resize:0.5").apply(image).size == (100, 50)
    assert get_attack("crop:0.25").apply(image).size == (100, 50)
    assert get_attack("crop_pad:0.5").apply(image).size == (200, 100)
    assert get_attack("chain").apply(image).size == (134, 67)


def test_jpeg_changes_pixels_and_flip_mirrors() -> None:
    image = hostile.photo_like((64, 64))
    arr = np.asarray(image)
    assert not np.array_equal(np.asarray(get_attack("jpeg:50").apply(image)), arr)
    assert np.array_equal(np.asarray(get_attack("hflip").apply(image)), arr[:, ::-1])


@pytest.mark.parametrize(
    ("bad", "message"),
    [("sharpen", "unknown attack"), ("jpeg", "needs a parameter"), ("jpeg:x", "not a number"),
     ("hflip:2", "takes no parameter")],
)
def test_bad_names_give_clear_errors(bad: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        get_attack(bad)


def test_parse_attacks_and_listing() -> None:
    assert [a.name for a in parse_attacks("jpeg:75, resize:0.5")] == ["jpeg:75", "resize:0.5"]
    assert "jpeg" in list_attacks()


def test_geometry_beyond_a_similarity() -> None:
    image = hostile.photo_like((200, 100))
    assert get_attack("aspect:0.8").apply(image).size == (200, 80)
    assert get_attack("aspect:1.25").apply(image).size == (200, 125)
    sheared = np.asarray(get_attack("shear:5").apply(image)).astype(int)
    assert sheared.shape == (100, 200, 3)
    # the centre row stays where it was; rows above and below move opposite ways
    original = np.asarray(image).astype(int)
    assert np.abs(sheared[50, 20:180] - original[50, 20:180]).mean() < 3
    assert sheared[0, -1].sum() == 0 and sheared[-1, 0].sum() == 0  # uncovered corners
    assert get_attack("compound").apply(image).size == (155, 77)  # 60% of the area


def test_copy_attack_adds_the_donors_residual_to_the_host() -> None:
    from synthmark.attacks.security import CopyAttack, get_security_attack, highpass_residual

    donor, host = hostile.photo_like((64, 48), seed=1), hostile.photo_like((64, 48), seed=2)
    forged = np.asarray(CopyAttack("median", 1.0).apply(donor, host)).astype(np.float32)
    expected = np.asarray(host, np.float32) + highpass_residual(donor, "median")
    assert np.abs(forged - np.clip(np.rint(expected), 0, 255)).max() == 0
    half = np.asarray(CopyAttack("gauss", 0.5).apply(donor, host)).astype(np.float32)
    change = half - np.asarray(host, np.float32)
    assert 0 < np.abs(change).mean() < np.abs(forged - np.asarray(host, np.float32)).mean()
    # a donor of another size is resized onto the host
    assert CopyAttack().apply(hostile.photo_like((96, 96)), host).size == host.size
    assert get_security_attack("copy").name == "copy:median:1"
    assert get_security_attack("copy:gauss:0.5") == CopyAttack("gauss", 0.5)


def test_averaging_attack_subtracts_the_common_part_at_its_psnr() -> None:
    from synthmark.attacks.security import AveragingAttack, get_security_attack
    from synthmark.watermark.quality import psnr

    common = np.random.default_rng(0).normal(0, 8, (48, 64, 3))
    images = []
    for seed in range(6):
        base = np.asarray(hostile.photo_like((64, 48), seed=seed), np.float64)
        images.append(Image.fromarray(np.clip(base + common, 0, 255).astype(np.uint8)))
    attack = get_security_attack("average:6:30")
    assert isinstance(attack, AveragingAttack) and attack.n == 6 and attack.psnr == 30.0
    pattern = attack.estimate(images)
    cleaned = attack.apply(images[0], pattern)
    assert abs(psnr(images[0], cleaned) - 30.0) < 0.3
    # the estimate follows the common pattern, not any one image
    corr = np.corrcoef(pattern.ravel(), common.ravel())[0, 1]
    assert corr > 0.3
    with pytest.raises(UsageError, match="needs 6 marked images"):
        attack.estimate(images[:3])


@pytest.mark.parametrize(
    ("bad", "message"),
    [("copy:sobel", "unknown residual filter"), ("copy:median:x", "malformed"),
     ("copy:median:9", "strength"), ("average", "unknown security attack"),
     ("average:0", "at least 1"), ("blur:1", "unknown security attack")],
)
def test_bad_security_attack_names(bad: str, message: str) -> None:
    from synthmark.attacks.security import get_security_attack

    with pytest.raises(UsageError, match=message):
        get_security_attack(bad)


def test_regen_runs_the_tiny_autoencoder(shared_data: Path) -> None:
    """The project's own TAESD-architecture loader: every tensor of the safetensors files
    fits (strict), and a round trip keeps a photo recognisable but not identical."""
    from synthmark.attacks.regen import Regenerator
    from synthmark.watermark.quality import psnr

    regen = Regenerator(shared_data.parent / "models" / "taef2")
    assert regen.available
    photo = Image.open(shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg")
    photo = photo.convert("RGB").resize((100, 100))  # not a multiple of 8: padded inside
    out = regen(photo)
    assert out.size == photo.size and out.mode == "RGB"
    assert 22.0 < psnr(photo, out) < 45.0
    attack = get_attack("regen")
    assert attack.name == "regen" and "regen" in list_attacks()


def test_regen_without_weights_says_where_to_put_them(tmp_path: Path) -> None:
    from synthmark.attacks.regen import REGEN_ENV, Regenerator
    from synthmark.errors import ModelNotFound

    regen = Regenerator(tmp_path)
    assert not regen.available
    with pytest.raises(ModelNotFound, match=REGEN_ENV):
        regen(hostile.photo_like((32, 32)))
