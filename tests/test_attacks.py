"""The shared attack registry."""

from __future__ import annotations

import numpy as np
import pytest

from synthmark.attacks import (
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
