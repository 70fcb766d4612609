"""EXIF (:mod:`synthmark.labels.exif`): build and read."""

from __future__ import annotations

import pytest
from PIL import Image

from synthmark.labels import read_labels
from synthmark.labels.containers import extract_blocks
from synthmark.labels.exif import build_exif, decode_user_comment, read_exif
from tests import hostile


@pytest.mark.parametrize(
    ("raw", "order", "text"),
    [
        (b"UNICODE\x00" + "héllo".encode("utf-16-be"), ">", "héllo"),
        (b"UNICODE\x00" + "héllo".encode("utf-16-le"), ">", "héllo"),
        (b"UNICODE\x00" + "日本".encode("utf-16-le"), "<", "日本"),
        (b"ASCII\x00\x00\x00plain\x00\x00", None, "plain"),
        (b"\x00" * 8 + "utf8 ✓".encode(), None, "utf8 ✓"),
        (b"UNICODE\x00\x00", ">", None),
        (b"", None, None),
    ],
)
def test_user_comment_decoding(raw: bytes, order: str | None, text: str | None) -> None:
    assert decode_user_comment(raw, order) == text


def test_exif_written_reads_back_through_pillow_and_jpeg() -> None:
    exif = build_exif("synthmark 0.1", "a prompt\nSteps: 3, Sampler: Euler, Seed: 1")
    data = hostile.jpeg_bytes(hostile.photo_like(), exif=exif)
    report = read_exif(extract_blocks(data).exif)
    assert report.software == "synthmark 0.1"
    assert report.user_comment == "a prompt\nSteps: 3, Sampler: Euler, Seed: 1"


def test_exif_fields_of_a_camera_file() -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Lightroom"
    report = read_labels(hostile.jpeg_bytes(hostile.photo_like(), exif=exif)).exif
    assert (report.make, report.model, report.software) == ("Canon", "EOS R5", "Lightroom")
