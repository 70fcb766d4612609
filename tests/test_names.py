"""The name registries (``synthmark.names``) and the contract every registry keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from synthmark.detect.extractors import EXTRACTORS, create_extractor, extractor_spec
from synthmark.detect.heads import HEADS
from synthmark.errors import UsageError
from synthmark.labels.containers import extract_blocks
from synthmark.labels.exif import read_exif
from synthmark.labels.generators import GENERATOR_READERS, MetadataSources
from synthmark.labels.report import LABEL_READERS, read_labels
from synthmark.labels.xmp import XmpReport
from synthmark.names import NameRegistry
from synthmark.registry import BACKENDS
from tests import hostile

#: Every registry of the package that this module checks, by the kind its messages name.
REGISTRIES: list[NameRegistry[Any]] = [
    LABEL_READERS, GENERATOR_READERS, BACKENDS, EXTRACTORS, HEADS
]


def test_register_get_create_and_list_in_order() -> None:
    shapes: NameRegistry[Callable[..., tuple[str, int]]] = NameRegistry("shape")

    @shapes.register("square")
    def square(side: int = 1) -> tuple[str, int]:
        return ("square", side)

    shapes.register("dot", lambda: ("dot", 0))
    assert shapes.names() == ["square", "dot"] and list(shapes) == ["square", "dot"]
    assert "square" in shapes and "circle" not in shapes and len(shapes) == 2
    assert shapes["square"] is square
    assert shapes.create("square", side=3) == ("square", 3)
    with pytest.raises(UsageError, match=r"bad parameters for shape 'dot'"):
        shapes.create("dot", side=2)
    with pytest.raises(ValueError, match="shape 'dot' is registered twice"):
        shapes.register("dot", lambda: ("dot", 1))


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_an_unknown_name_lists_the_known_ones(registry: NameRegistry[Any]) -> None:
    assert len(registry) > 0
    with pytest.raises(ValueError) as raised:
        registry["no-such-name"]
    assert isinstance(raised.value, UsageError)
    assert str(raised.value) == (
        f"unknown {registry.kind} 'no-such-name'; known: {', '.join(registry.names())}"
    )


@pytest.mark.parametrize("name", GENERATOR_READERS.names())
def test_every_generator_reader_finds_nothing_in_a_plain_photo(name: str) -> None:
    blocks = extract_blocks(hostile.png_bytes(hostile.photo_like()))
    sources = MetadataSources(blocks=blocks, exif=read_exif(blocks.exif), xmp=XmpReport())
    assert GENERATOR_READERS[name](sources) == []


@pytest.mark.parametrize("name", LABEL_READERS.names())
def test_every_label_reader_runs_alone_on_a_plain_photo(name: str) -> None:
    report = read_labels(hostile.jpeg_bytes(hostile.photo_like()), "photo.jpg", readers=[name])
    assert report.errors == [] and report.declared_ai == []


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_every_extractor_builds_by_name_and_names_itself(name: str) -> None:
    extractor = create_extractor(name)
    assert extractor.name == name and extractor_spec(extractor) == name
    assert extractor.describe()


def test_sorted_registries_list_their_names_sorted() -> None:
    assert EXTRACTORS.names() == sorted(EXTRACTORS.names())
    letters: NameRegistry[int] = NameRegistry("letter", sort=True)
    for name in "cab":
        letters.register(name, ord(name))
    assert letters.names() == list(letters) == ["a", "b", "c"]
    assert letters.known() == "a, b, c" and letters.items()[0] == ("a", 97)
