"""Metadata blocks in PNG, JPEG and WebP files (:mod:`synthmark.labels.containers`),
with hostile input."""

from __future__ import annotations

import zlib

import pytest

from synthmark.labels import read_labels
from synthmark.labels.containers import MAX_TEXT_BYTES
from tests import hostile


def _text_chunk(kind: bytes, payload: bytes) -> bytes:
    return hostile._chunk(kind, payload)


def test_zip_bomb_text_chunk_is_refused() -> None:
    png = hostile.png_bytes(hostile.photo_like())
    bomb = _text_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * (MAX_TEXT_BYTES + 10)))
    data = png[:33] + bomb + png[33:]
    report = read_labels(data)
    assert any("expands past" in e for e in report.errors)
    assert report.generators == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: hostile.truncated(hostile.png_bytes(hostile.photo_like())),
        lambda: hostile.truncated(hostile.jpeg_bytes(hostile.photo_like())),
        lambda: b"\x89PNG\r\n\x1a\n" + b"\xff" * 40,
        lambda: b"\xff\xd8\xff\xe1\xff\xff",
        lambda: b"RIFF\x10\x00\x00\x00WEBPVP8X\xff\xff\xff\x7f",
        lambda: b"II*\x00" + b"\x00" * 20,
        lambda: b"GIF89a",
    ],
)
def test_hostile_files_never_raise(make: object) -> None:
    report = read_labels(make())  # type: ignore[operator]
    assert report.c2pa.present is False


def test_png_text_after_the_image_data_is_seen() -> None:
    png = hostile.png_bytes(hostile.photo_like())
    extra = _text_chunk(b"tEXt", b"parameters\x00p\nSteps: 1, Sampler: Euler, Seed: 9")
    data = png[:-12] + extra + png[-12:]
    [meta] = read_labels(data).generators
    assert meta.fields["seed"] == 9
