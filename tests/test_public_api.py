"""``import synthmark``: the handful of public names, each documented with an example."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import synthmark

PUBLIC = [name for name in synthmark.__all__ if name != "__version__"]
#: Names whose example is written by other work in progress (issue 21): each must still
#: lack one, so that the list only shrinks.
EXAMPLE_PENDING = {"Screener", "get_scheme", "read_all"}


@pytest.mark.parametrize("name", PUBLIC)
def test_each_public_name_loads_and_shows_an_example(name: str) -> None:
    obj = getattr(synthmark, name)
    assert obj is getattr(importlib.import_module(synthmark._LAZY[name]), name)
    has_example = ">>>" in (obj.__doc__ or "")
    assert has_example != (name in EXAMPLE_PENDING), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'screen_everything'"):
        synthmark.screen_everything  # noqa: B018
    assert set(PUBLIC) <= set(dir(synthmark))


def test_import_synthmark_and_its_light_modules_load_no_heavy_library() -> None:
    code = (
        "import sys, synthmark, synthmark.settings, synthmark.choices, synthmark.names;"
        "print(','.join(m for m in ('torch', 'numpy', 'PIL', 'diffusers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "module", ["synthmark.names", "synthmark.choices", "synthmark.settings",
               "synthmark.generate.plan", "synthmark.labelling.info", "synthmark.screen.record",
               "synthmark.detect.training"]
)
def test_the_runnable_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), extraglobs={"synthmark": synthmark})
    assert result.failed == 0 and result.attempted > 0
