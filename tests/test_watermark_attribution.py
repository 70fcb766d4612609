"""A mark bound to its picture: content descriptions, the read's frame, the registry's
store, and bound / copied / unregistered / unknown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.attacks.security import CopyAttack
from synthmark.errors import RegistryError, UsageError
from synthmark.watermark import WatermarkScheme, get_scheme
from synthmark.watermark.attribution import (
    MATCH_THRESHOLD,
    Attribution,
    ContentDescription,
    Frame,
    attribute,
    content_match,
    describe_content,
    trimmed_correlation,
)
from tests.watermark_images import square

KEY = bytes(range(32))
PAYLOAD = (1234).to_bytes(8, "big")


@pytest.fixture(scope="module")
def scheme() -> WatermarkScheme:
    return get_scheme("synthmark", key=KEY)


@pytest.fixture(scope="module")
def marked(scheme: WatermarkScheme, shared_data: Path) -> Image.Image:
    photo = square(shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg", 512)
    return scheme.embed(photo, PAYLOAD)


@pytest.fixture(scope="module")
def host(shared_data: Path) -> Image.Image:
    return square(shared_data / "detector/real_sun_hays80/coast_sun_adeamqputqgbqvcq.jpg", 512)


def test_description_is_compact_and_round_trips(marked: Image.Image) -> None:
    data = describe_content(marked)
    assert len(data) < 1100  # 32 x 32 cells and a header
    desc = ContentDescription.from_bytes(data)
    assert desc.work_size == (512, 512) and desc.values.shape == (32, 32)
    assert desc.step == 34.0 and desc.to_bytes() == data
    # an image under 512 px is described in its own frame, with the small lattice step
    small = ContentDescription.from_bytes(describe_content(marked.resize((300, 400))))
    assert small.work_size == (300, 400) and small.step == 28.0
    # a long image keeps at most 64 cells on its long side
    long = ContentDescription.from_bytes(describe_content(marked.resize((512, 2560))))
    assert max(long.values.shape) <= 64
    for bad in (b"", b"SMCD", data[:-1], b"XXXX" + data[4:]):
        with pytest.raises(UsageError, match="content description"):
            ContentDescription.from_bytes(bad)


@pytest.mark.parametrize("size", [(512, 512), (300, 400), (700, 513), (1500, 1024)])
def test_description_values_are_the_blurred_luminance_at_cell_centres(
    marked: Image.Image, size: tuple[int, int]
) -> None:
    from synthmark.watermark.attribution import _blur, _luma, _sample

    desc = ContentDescription.from_bytes(describe_content(marked.resize(size)))
    work = marked.resize(size)
    if desc.work_size != size:
        work = work.resize(desc.work_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    # the definition: blur the whole image, then sample it bilinearly at each cell centre
    rows, cols = desc.values.shape
    reference = _sample(_blur(_luma(work), desc.cell / 2.0), desc.centres().reshape(rows, cols, 2))
    assert np.abs(desc.values - np.rint(reference)).max() <= 1


@pytest.mark.parametrize(
    "attack",
    ["none", "jpeg:50", "crop_corner:0.5", "rotate:10", "hflip", "resize:0.5", "aspect:0.8"],
)
def test_a_genuine_read_matches_its_description(
    scheme: WatermarkScheme, marked: Image.Image, attack: str
) -> None:
    """The read's frame maps the description's cells onto the attacked image: the same
    picture, whatever the geometry (the aspect change needs the affine recovery)."""
    attacked = get_attack(attack).apply(marked)
    readout = scheme.extract(attacked)
    assert readout.present and readout.payload == PAYLOAD
    frame = Frame.from_dict(readout.details["frame"])
    assert frame is not None
    rho, cells = content_match(attacked, frame, describe_content(marked))
    assert rho > 0.9 and cells >= 200
    state, info = attribute(
        attacked, readout.details, describe_content(marked), registry=True, registered=True
    )
    assert state is Attribution.BOUND and info["content_match"] > 0.9


def test_a_copied_mark_does_not_match(
    scheme: WatermarkScheme, marked: Image.Image, host: Image.Image
) -> None:
    """The copy attack moves the mark onto a real photo: it reads, with the donor's serial,
    but the content the read lands on is the photo, not the registered picture."""
    forged = CopyAttack("median", 1.0).apply(marked, host)
    readout = scheme.extract(forged)
    assert readout.present and readout.payload == PAYLOAD  # the forgery works at mark level
    state, info = attribute(
        forged, readout.details, describe_content(marked), registry=True, registered=True
    )
    assert state is Attribution.COPIED
    assert info["content_match"] < MATCH_THRESHOLD and info["cells"] >= 900


def test_attribution_without_a_registry_or_a_record(
    scheme: WatermarkScheme, marked: Image.Image
) -> None:
    details = scheme.extract(marked).details
    desc = describe_content(marked)
    assert attribute(marked, details, desc, registry=False, registered=False)[0] == "unknown"
    assert attribute(marked, details, None, registry=True, registered=False)[0] == "unregistered"
    state, info = attribute(marked, details, None, registry=True, registered=True)
    assert state is Attribution.UNKNOWN and "without a content description" in info["why"]
    state, info = attribute(marked, {}, desc, registry=True, registered=True)
    assert state is Attribution.UNKNOWN and "no geometry" in info["why"]
    # a frame that puts the image far outside the described picture
    far = {"frame": {"matrix": [[1e-3, 0.0], [0.0, 1e-3]], "offset": [0.0, 0.0]}}
    lost = attribute(marked.crop((0, 0, 40, 40)), far, desc, registry=True, registered=True)
    assert lost[0] is Attribution.UNKNOWN


def test_frame_from_malformed_details_is_none() -> None:
    assert Frame.from_dict(None) is None
    assert Frame.from_dict({"matrix": [[1, 2]], "offset": [0, 0]}) is None
    assert Frame.from_dict({"matrix": [[0, 0], [0, 0]], "offset": [0, 0]}) is None
    assert Frame.from_dict({"matrix": [[1, 0], [0, float("nan")]], "offset": [0, 0]}) is None
    frame = Frame(np.eye(2), np.array([0.25, -0.5]))
    assert Frame.from_dict(frame.to_dict()) is not None


def test_trimmed_correlation_ignores_a_patch_that_does_not_fit() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    b = a + 0.05 * rng.normal(size=400)
    b[:60] = 0.0  # a pad or a logo over 15% of the cells
    plain = float(np.corrcoef(a, b)[0, 1])
    assert trimmed_correlation(a, b) > 0.95 > plain
    assert abs(trimmed_correlation(a, rng.normal(size=400))) < 0.3


# -- the registry keeps one description per serial ----------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_registry_stores_one_content_description_per_serial(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from synthmark.registry import open_registry
    from synthmark.registry.schema import SCHEMA_VERSION

    if backend == "sqlite":
        target = str(tmp_path / "reg.sqlite3")
    else:
        target = request.getfixturevalue("pg_url")
    with open_registry(target) as reg:
        assert reg.schema_version == SCHEMA_VERSION >= 2
        serial = reg.reserve(model_id="tiny")
        assert reg.get_content(serial) is None
        reg.put_content(serial, b"\x01\x02description")  # a reserved serial may take one
        assert reg.get_content(serial) == b"\x01\x02description"
        with pytest.raises(RegistryError, match="already has a content description"):
            reg.put_content(serial, b"another")
        with pytest.raises(RegistryError, match="no record with serial 999"):
            reg.put_content(999, b"x")
        with pytest.raises(UsageError, match="non-empty bytes"):
            reg.put_content(serial, b"")
    with open_registry(target) as again:  # it persists
        assert again.get_content(serial) == b"\x01\x02description"


@pytest.mark.parametrize("attack", ["crop:0.5", "crop:0.25"])
def test_a_centre_crop_of_a_large_image_stays_bound(
    scheme: WatermarkScheme, shared_data: Path, attack: str
) -> None:
    """A 1024 px mark cropped to its centre: the image lies well away from the original's
    corner, and a whole-cell translation that keeps it on the picture covers one row or
    column fewer cells than others (by phase). Both used to leave the true translation out
    of the comparison."""
    photo = square(shared_data / "detector/real_sun_hays80/coast_sun_adeamqputqgbqvcq.jpg", 1024)
    marked = scheme.embed(photo, PAYLOAD)
    cropped = get_attack(attack).apply(marked)
    readout = scheme.extract(cropped)
    assert readout.present
    state, info = attribute(
        cropped, readout.details, describe_content(marked), registry=True, registered=True
    )
    assert state is Attribution.BOUND and info["content_match"] > 0.9
