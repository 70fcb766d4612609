"""XMP (:mod:`synthmark.labels.xmp`): build and parse."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import PngImagePlugin

from synthmark.labels import read_labels
from synthmark.labels.sourcetypes import TRAINED_ALGORITHMIC_MEDIA, declares_ai, short_name
from synthmark.labels.xmp import XmpFields, build_xmp, parse_xmp
from tests import hostile


def _fields(**kw: object) -> XmpFields:
    base: dict[str, object] = dict(
        digital_source_type=TRAINED_ALGORITHMIC_MEDIA,
        credit='Made with AI <by "us"> & co',
        creator_tool="synthmark",
        created=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    )
    base.update(kw)
    return XmpFields(**base)  # type: ignore[arg-type]


def test_xmp_round_trip_escapes_text() -> None:
    packet = build_xmp(_fields(ai_system="m", prompt="a <b> & c"))
    report = parse_xmp(packet)
    assert report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.credit == 'Made with AI <by "us"> & co'
    assert report.ai_system_used == "m" and report.ai_prompt == "a <b> & c"


def test_xmp_element_and_resource_forms() -> None:
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
      xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
      xmlns:dc="http://purl.org/dc/elements/1.1/">
      <Iptc4xmpExt:DigitalSourceType
        rdf:resource="https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
      <dc:description><rdf:Alt><rdf:li xml:lang="x-default">a fox Job ID:
        0f0e2c4a-1b2c-4d5e-8f90-123456789abc</rdf:li></rdf:Alt></dc:description>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    report = parse_xmp(packet)
    assert report.digital_source_type is not None and declares_ai(report.digital_source_type)
    assert short_name(report.digital_source_type) == "trainedAlgorithmicMedia"
    assert report.description is not None and report.description.startswith("a fox")


@pytest.mark.parametrize(
    "packet",
    [
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",
        b"no xml here",
    ],
)
def test_bad_xmp_is_an_error_not_a_crash(packet: bytes) -> None:
    report = parse_xmp(packet)
    assert report.present and report.errors and report.digital_source_type is None


def test_xmp_in_a_plain_png_from_another_tool() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", build_xmp(_fields()).decode(), zip=True)
    report = read_labels(hostile.png_bytes(hostile.photo_like(), pnginfo=info))
    assert report.xmp.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.declared_ai == ["XMP DigitalSourceType: trainedAlgorithmicMedia"]
    assert report.c2pa.present is False


def test_xmp_and_exif_in_a_tiff() -> None:
    buf = io.BytesIO()
    packet = build_xmp(_fields())
    hostile.photo_like((32, 32)).save(buf, format="TIFF", tiffinfo={700: packet, 305: "GIMP"})
    report = read_labels(buf.getvalue())
    assert report.format == "TIFF"
    assert report.xmp.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.exif.software == "GIMP"


def test_control_characters_cannot_break_the_xmp() -> None:
    report = parse_xmp(build_xmp(_fields(prompt="bell\x07 and nul\x00 here", ai_system="m\x1b")))
    assert report.errors == []
    assert report.ai_prompt == "bell and nul here" and report.ai_system_used == "m"
