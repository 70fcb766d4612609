"""What :func:`synthmark.labels.read_labels` reports for a whole file, and the label
readers' registries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthmark.labels import GENERATOR_READERS, list_label_readers, read_labels
from synthmark.labels.containers import extract_blocks
from synthmark.labels.generators import get_generator_reader
from tests import hostile


def test_a_plain_photo_has_no_labels() -> None:
    report = read_labels(hostile.jpeg_bytes(hostile.photo_like()), "photo.jpg")
    assert report.format == "JPEG" and report.path == "photo.jpg"
    assert not report.c2pa.present and not report.xmp.present and report.generators == []
    assert report.declared_ai == [] and report.errors == []


def test_reader_registries_name_the_known_readers() -> None:
    assert list_label_readers() == ["c2pa", "xmp", "exif", "generators"]
    assert set(GENERATOR_READERS) == {
        "a1111",
        "comfyui",
        "invokeai",
        "novelai",
        "midjourney",
        "swarmui",
        "fooocus",
    }
    with pytest.raises(ValueError, match="known: a1111, comfyui"):
        get_generator_reader("dalle")
    with pytest.raises(ValueError, match="known: c2pa, xmp, exif, generators"):
        read_labels(b"", readers=["ocr"])


def test_report_is_json_serialisable(shared_data: Path) -> None:
    from synthmark.jsonutil import dumps

    path = shared_data / "provenance" / "c2pa" / "sdk" / "tests" / "fixtures" / "ocsp.jpg"
    obj = json.loads(dumps(read_labels(path.read_bytes(), path)))
    assert {
        "present",
        "validation_state",
        "claim_generator",
        "digital_source_types",
        "errors",
    } <= set(obj["c2pa"])


def test_unreadable_tiff_header_error_names_no_python_object() -> None:
    blocks = extract_blocks(b"II*\x00" + bytes(40))
    assert blocks.errors == ["cannot parse TIFF header: Pillow cannot read it"]


def test_stripped_manifest_leaves_only_an_xmp_reference(shared_data: Path) -> None:
    path = shared_data / "provenance" / "c2pa" / "sdk" / "tests" / "fixtures" / "no_manifest.jpg"
    report = read_labels(path.read_bytes(), path)
    assert report.xmp.provenance is not None and "jumbf=/c2pa/" in report.xmp.provenance
    assert report.c2pa.present is False
