"""Our mark in screening and reading: only a mark bound to its registered picture counts
as ``synthetic``; a copied mark and an unregistered serial are warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.attacks.security import CopyAttack
from synthmark.cli.main import app
from synthmark.registry import open_registry
from synthmark.settings import Settings
from synthmark.watermark import get_scheme
from synthmark.watermark.attribution import describe_content
from synthmark.watermark.keys import create_key, load_key
from tests.watermark_images import square

runner = CliRunner()


def _screen(home: Path, path: Path) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(
        app,
        ["screen", str(path), "--json", "--no-detector"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    create_key(Settings(home=home))
    return home


@pytest.fixture()
def photo(shared_data: Path) -> Image.Image:
    return square(shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg")


def test_an_unregistered_serial_is_not_proof(home: Path, photo: Image.Image) -> None:
    """Issue 20, item 11: a photo marked by hand with ``--payload 00000000000004d2`` used to
    screen ``synthetic 0.999, serial 1234``. The serial is in no registry: the reason says
    so and the watermark alone does not make it synthetic."""
    source = home.parent / "photo.png"
    photo.save(source)
    marked = home.parent / "marked.png"
    made = runner.invoke(
        app,
        ["watermark", "embed", str(source), "-o", str(marked), "--payload", "00000000000004d2"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert made.exit_code == 0, made.output
    # no registry at all: the mark is not checked, so it is only indicative
    record = _screen(home, marked)
    assert record["layers"]["watermarks"]["synthmark"]["attribution"] == "unknown"
    assert record["verdict"] == "likely_synthetic"
    assert any("could not be checked" in r for r in record["reasons"])
    # with a registry that does not know serial 1234
    open_registry(Settings(home=home)).close()
    record = _screen(home, marked)
    assert record["layers"]["watermarks"]["synthmark"]["attribution"] == "unregistered"
    assert record["verdict"] != "synthetic"
    assert any("serial 1234 is not in the registry" in r for r in record["reasons"])


def test_a_registered_mark_is_bound_and_a_copy_of_it_is_not(
    home: Path, photo: Image.Image, shared_data: Path
) -> None:
    """A picture marked and registered as ``generate`` does it screens ``synthetic``; its
    mark copied onto a real photo reads with the same serial but screens as a copied mark,
    never ``synthetic`` on the watermark's word, and ``watermark read`` says the same."""
    settings = Settings(home=home)
    scheme = get_scheme("synthmark", key=load_key(settings))
    with open_registry(settings) as reg:
        serial = reg.reserve(model_id="tiny")
        marked = scheme.embed(photo, serial.to_bytes(8, "big"))
        reg.put_content(serial, describe_content(marked))
        path = home.parent / "generated.png"
        marked.save(path)
        reg.commit(serial, data=path.read_bytes(), model_id="tiny")
    generated = _screen(home, path)
    assert generated["layers"]["watermarks"]["synthmark"]["attribution"] == "bound"
    assert generated["verdict"] == "synthetic"
    assert any("on the picture registered for it" in r for r in generated["reasons"])

    host = square(shared_data / "detector/real_sun_hays80/coast_sun_adeamqputqgbqvcq.jpg")
    forged_path = home.parent / "forged.png"
    CopyAttack("median", 1.0).apply(marked, host).save(forged_path)
    forged = _screen(home, forged_path)
    mark = forged["layers"]["watermarks"]["synthmark"]
    assert mark["status"] == "present" and mark["payload"] == serial.to_bytes(8, "big").hex()
    assert mark["attribution"] == "copied"
    assert forged["verdict"] != "synthetic"
    assert any("copied onto this image" in r for r in forged["reasons"])

    read = runner.invoke(
        app, ["watermark", "read", str(forged_path), str(path), "--json"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert read.exit_code == 0, read.output
    lines = [json.loads(x) for x in read.stdout.splitlines() if x.startswith("{")]
    assert [r["attribution"] for r in lines] == ["copied", "bound"]
    inspect = runner.invoke(
        app, ["inspect", str(forged_path), "--json"], env={"SYNTHMARK_HOME": str(home)}
    )
    assert inspect.exit_code == 0, inspect.output
    record = json.loads(next(x for x in inspect.stdout.splitlines() if x.startswith("{")))
    ours = next(w for w in record["watermarks"] if w["scheme"] == "synthmark")
    assert ours["attribution"] == "copied"
