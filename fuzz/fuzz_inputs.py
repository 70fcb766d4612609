"""Fuzz target: image loading and metadata parsing must never raise anything unexpected.

Run (10 minutes, seeded with the hostile corpus and a few real files):

    .venv/bin/python -m fuzz.fuzz_inputs -max_total_time=600 -rss_limit_mb=4096 fuzz/corpus

Every input goes through the safe loader and every label reader. The only exceptions
allowed are synthmark's typed image errors; anything else is a crash atheris reports with
the input that caused it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import atheris

with atheris.instrument_imports():
    from synthmark.errors import UnsupportedImage
    from synthmark.imaging import ImageLimits, load_image
    from synthmark.labels import read_labels

LIMITS = ImageLimits(max_bytes=4 * 1024 * 1024, max_pixels=4_000_000)
warnings.simplefilter("ignore")


def test_one(data: bytes) -> None:
    with contextlib.suppress(UnsupportedImage):
        load_image(data, LIMITS)
    report = read_labels(data, "fuzz")
    if not isinstance(report.errors, list):  # pragma: no cover - a contract check
        raise AssertionError("read_labels must report errors as a list")


def seed_corpus(folder: str) -> None:
    """Write the hostile corpus as seeds (run from the repository root: ``python -m``)."""
    from pathlib import Path

    from tests import hostile

    hostile.build_corpus(Path(folder))


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        os.makedirs(corpus[0], exist_ok=True)
        if not os.listdir(corpus[0]):
            seed_corpus(corpus[0])
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
