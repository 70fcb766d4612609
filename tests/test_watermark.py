"""Watermark schemes by name (:mod:`synthmark.watermark`): the registry, the contract every
registered scheme keeps, and :func:`read_all`.

Robustness is measured by ``synthmark watermark bench``; here a few attacks only check that
the geometry and decoding paths work end to end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from synthmark.errors import ImageTooSmall, KeyMissing, UsageError
from synthmark.watermark import (
    SCHEMES,
    WatermarkScheme,
    WatermarkStatus,
    get_scheme,
    list_schemes,
    read_all,
)
from tests import hostile
from tests.watermark_images import KEY, PAYLOAD

#: Every registered scheme but rivaGan, whose neural network makes a round trip slow (its
#: own test below is marked so).
FAST = [name for name in SCHEMES if name != "rivaGan"]
#: The schemes without a key: invisible-watermark's and Stable Diffusion's public marks.
UNKEYED = [name for name in SCHEMES if not SCHEMES[name].keyed]


def _scheme(name: str) -> WatermarkScheme:
    return get_scheme(name, key=KEY if SCHEMES[name].keyed else None)


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


@pytest.mark.parametrize("name", FAST)
def test_every_scheme_round_trips(name: str, dwt_friendly: Image.Image) -> None:
    scheme = _scheme(name)
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


@pytest.mark.parametrize("name", FAST)
def test_an_unmarked_image_reads_absent(name: str, generated: Image.Image) -> None:
    assert _scheme(name).extract(generated).status is WatermarkStatus.ABSENT


@pytest.mark.parametrize("name", UNKEYED)
def test_unkeyed_schemes_refuse_small_images(name: str) -> None:
    scheme = get_scheme(name)
    with pytest.raises(ImageTooSmall, match=f"scheme '{name}' needs at least 256 px"):
        scheme.embed(hostile.photo_like((255, 400)), bytes(scheme.payload_bytes))


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
