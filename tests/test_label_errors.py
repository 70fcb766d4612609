"""``synthmark label`` on bad input: a clear error for that file, no partial output, no lost
serial, and never a write over the input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.registry import open_registry
from synthmark.settings import Settings
from tests import hostile
from tests.test_label import make_home

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()


def _label(*args: str) -> Any:
    return runner.invoke(app, ["label", *args])


def _rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _statuses(home: Path) -> list[str]:
    registry = open_registry(Settings(home=home))
    try:
        return sorted(r.status.value for r in registry.list_records(limit=None))
    finally:
        registry.close()


@pytest.fixture
def inputs(tmp_path: Path, synthmark_home: Path) -> Path:
    make_home(synthmark_home)
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def test_each_bad_file_gets_its_own_error_and_the_batch_goes_on(
    inputs: Path, tmp_path: Path, synthmark_home: Path, shared_data: Path
) -> None:
    good = hostile.write(inputs / "good.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    broken = hostile.write(inputs / "broken.png", hostile.truncated(good.read_bytes(), 0.3))
    animated = hostile.write(inputs / "moving.gif", hostile.animated_gif(3))
    tiny = hostile.write(inputs / "tiny.png", hostile.png_bytes(hostile.photo_like((64, 64))))
    invalid = shared_data / "provenance/c2pa/sdk/tests/fixtures/XCA.jpg"
    out = tmp_path / "out"
    result = _label(str(good), str(broken), str(animated), str(tiny), str(invalid), "-o",
                    str(out), "--model", "m", "--json")
    assert result.exit_code == 1
    errors = {Path(r["path"]).name: r["error"] for r in _rows(result.stdout) if "error" in r}
    assert sorted(errors) == ["XCA.jpg", "broken.png", "moving.gif", "tiny.png"]
    assert "cannot decode image" in errors["broken.png"]
    assert "3 frames" in errors["moving.gif"] and "still images only" in errors["moving.gif"]
    assert "64x64" in errors["tiny.png"] and "at least 256 px" in errors["tiny.png"]
    assert "cannot be kept" in errors["XCA.jpg"] and "--drop-manifest" in errors["XCA.jpg"]
    assert "Error: 4 of 5 file(s) were not labelled" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["good.png"]  # nothing partial, no temp
    assert _statuses(synthmark_home) == ["committed"]  # refused before any serial was taken


def test_drop_manifest_labels_a_file_whose_manifest_cannot_be_kept(
    inputs: Path, tmp_path: Path, shared_data: Path
) -> None:
    invalid = shared_data / "provenance/c2pa/sdk/tests/fixtures/XCA.jpg"
    result = _label(str(invalid), "-o", str(tmp_path / "out"), "-m", "m", "--drop-manifest",
                    "--json")
    assert result.exit_code == 0, result.output
    (row,) = _rows(result.stdout)
    assert row["parent_manifest_id"] is None
    assert any("dropped (--drop-manifest)" in n and "does not validate" in n for n in row["notes"])


def test_a_missing_signing_key_is_an_error_before_any_work(
    inputs: Path, tmp_path: Path, synthmark_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = hostile.write(inputs / "good.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    chain = synthmark_home / "keys" / "c2pa" / "signer.pem"
    monkeypatch.setenv("SYNTHMARK_C2PA_CERT", str(chain))
    monkeypatch.setenv("SYNTHMARK_C2PA_KEY", str(tmp_path / "gone.key"))
    result = _label(str(good), "-o", str(tmp_path / "out"), "-m", "m")
    assert result.exit_code == 1
    assert "Error: private key" in result.output and "does not exist" in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert _statuses(synthmark_home) == []


def test_without_keys_nothing_is_created_and_the_fix_is_named(tmp_path: Path) -> None:
    good = hostile.write(tmp_path / "good.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    result = _label(str(good), "-o", str(tmp_path / "out"), "-m", "m")
    assert result.exit_code == 1 and "synthmark watermark keygen" in result.output


def test_files_labelled_by_us_are_refused_unless_force(inputs: Path, tmp_path: Path) -> None:
    src = hostile.write(inputs / "pic.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    first = _label(str(src), "-o", str(tmp_path / "a"), "-m", "m", "--json")
    assert first.exit_code == 0, first.output
    ours = Path(_rows(first.stdout)[0]["path"])
    again = _label(str(ours), "-o", str(tmp_path / "b"), "-m", "m", "--json")
    assert again.exit_code == 1
    (row,) = _rows(again.stdout)
    assert "already labelled by synthmark" in row["error"] and "--force" in row["error"]
    assert "a C2PA manifest signed by synthmark" in row["error"]
    stripped = hostile.write(tmp_path / "copy.png", hostile.png_bytes(
        __import__("PIL.Image", fromlist=["Image"]).open(ours).convert("RGB")))
    for force in ([], ["--force"]):  # no label left, but the mark is: never marked twice
        marked = _label(str(stripped), "-o", str(tmp_path / "c"), "-m", "m", "--json", *force)
        assert marked.exit_code == 1
        assert "already carries a synthmark watermark (serial 1)" in _rows(marked.stdout)[0][
            "error"]
    forced = _label(str(ours), "-o", str(tmp_path / "d"), "-m", "m", "--force", "--json")
    assert forced.exit_code == 1 and "already carries" in _rows(forced.stdout)[0]["error"]
    other_key = tmp_path / "other.key"
    runner.invoke(app, ["watermark", "keygen", "--key-file", str(other_key)])
    relabel = runner.invoke(app, ["label", str(ours), "-o", str(tmp_path / "e"), "-m", "m",
                                  "--force", "--json"], env={"SYNTHMARK_WATERMARK_KEY":
                                                             str(other_key)})
    assert relabel.exit_code == 0, relabel.output  # labelled elsewhere: --force relabels it
    (row,) = _rows(relabel.stdout)
    assert row["parent_manifest_id"] is not None


def test_the_input_and_existing_files_are_never_written_over(inputs: Path) -> None:
    src = hostile.write(inputs / "pic.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    before = src.read_bytes()
    result = _label(str(inputs), "-o", str(inputs), "-m", "m", "--json")
    assert result.exit_code == 1
    assert "is the input file" in _rows(result.stdout)[0]["error"]
    assert src.read_bytes() == before
    out = inputs.parent / "out"
    out.mkdir()
    (out / "pic.png").write_bytes(b"mine")
    result = _label(str(src), "-o", str(out), "-m", "m")
    assert result.exit_code == 1 and "exists already" in result.output
    assert (out / "pic.png").read_bytes() == b"mine"


def test_a_file_without_generator_metadata_needs_the_model(inputs: Path, tmp_path: Path) -> None:
    src = hostile.write(inputs / "pic.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    result = _label(str(src), "-o", str(tmp_path / "out"))
    assert result.exit_code == 1 and "pass --model NAME" in " ".join(result.output.split())


def test_usage_errors_exit_2(tmp_path: Path, synthmark_home: Path) -> None:
    make_home(synthmark_home)
    (tmp_path / "file").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _label(str(empty), "-o", str(tmp_path / "o")).exit_code == 2
    src = hostile.write(tmp_path / "p.png", hostile.png_bytes(hostile.photo_like((300, 300))))
    assert _label(str(src), "-o", str(tmp_path / "file")).exit_code == 2
    assert _label(str(src), "-o", str(tmp_path / "o"), "--format", "gif").exit_code == 2
