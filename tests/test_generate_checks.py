"""``generate`` for a newcomer: keys it makes are announced, the provider is never a
placeholder, and whatever can be checked is checked before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.registry import open_registry
from synthmark.settings import Settings

pytestmark = pytest.mark.timeout(180)
runner = CliRunner()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    """Two images from a fresh home, no --provider, no SYNTHMARK_PROVIDER."""
    home = tmp_path_factory.mktemp("fresh-home")
    out = tmp_path_factory.mktemp("fresh-out")
    result = runner.invoke(
        app,
        ["--home", str(home), "generate", "a pear", "-n", "2", "-o", str(out), "--json"],
        env={"SYNTHMARK_PROVIDER": None},
    )
    assert result.exit_code == 0, result.output
    return home, out, result


def test_no_provider_warns_once_and_leaves_it_out_of_the_labels(fresh) -> None:  # type: ignore[no-untyped-def]
    home, out, result = fresh
    assert result.stderr.count("No provider named") == 1
    files = sorted(out.glob("synthmark-*.png"))
    assert len(files) == 2
    for path in files:
        data = path.read_bytes()
        assert b"unnamed provider" not in data and b"set --provider" not in data
        inspected = runner.invoke(app, ["--home", str(home), "inspect", str(path), "--json"])
        record = json.loads(inspected.stdout)
        assert record["xmp"]["credit"] == "Made with AI (model synthmark/tiny-sd)"


def test_keys_made_on_first_use_are_announced_with_a_backup_hint(fresh) -> None:  # type: ignore[no-untyped-def]
    home, _, result = fresh
    text = " ".join(result.stderr.split())
    assert f"Created a watermark key under {home / 'keys'}" in text and "back it up" in text
    assert "Created a local signing CA" in text


def test_a_named_provider_is_in_the_labels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["generate", "a pear", "-o", str(out), "--steps", "1", "--provider", "Acme Images"]
    )
    assert result.exit_code == 0, result.output
    assert "No provider named" not in result.stderr
    (path,) = out.glob("*.png")
    inspected = json.loads(runner.invoke(app, ["inspect", str(path), "--json"]).stdout)
    assert inspected["xmp"]["credit"].endswith("by Acme Images)")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--width", "64", "--height", "64"], 2, "64x64 is too small"),
        (["--width", "100"], 2, "width must be a positive multiple of 8, got 100"),
    ],
)
def test_bad_sizes_fail_before_the_model_loads_and_spend_nothing(
    args: list[str], code: int, message: str, tmp_path: Path
) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    result = runner.invoke(app, ["--home", str(home), "generate", "a pear", "-o", str(out), *args])
    assert result.exit_code == code, result.output
    assert message in " ".join(result.stderr.split())
    assert "Loading model" not in result.output
    assert not out.exists()  # no empty folder left behind
    if (home / "registry.sqlite3").exists():
        assert open_registry(Settings(home=home)).list_records() == []  # no serial used


def test_an_output_path_that_cannot_be_written_fails_before_the_model_loads(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = runner.invoke(app, ["generate", "a pear", "-o", str(blocker / "sub")])
    assert result.exit_code == 1
    assert "Error: output path" in result.stderr and "is a file" in result.stderr
    assert "Loading model" not in result.output


def test_keys_init_before_generate_is_used_and_after_it_changes_nothing(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path / "home")]
    made = runner.invoke(app, [*home, "keys", "init", "--org", "Acme", "--json"])
    assert made.exit_code == 0, made.output
    keys = json.loads(made.stdout)
    assert keys["watermark_key_created"] and keys["c2pa_created"]
    generated = runner.invoke(
        app, [*home, "generate", "a pear", "-o", str(tmp_path / "out"), "--steps", "1"]
    )
    assert generated.exit_code == 0, generated.output
    assert "Created" not in generated.stderr  # the keys from keys init were used
    (path,) = (tmp_path / "out").glob("*.png")
    inspected = json.loads(runner.invoke(app, [*home, "inspect", str(path), "--json"]).stdout)
    assert inspected["c2pa"]["signer"] == "synthmark signer / Acme"
    again = runner.invoke(app, [*home, "keys", "init"])
    assert again.exit_code == 0, again.output
    assert "Kept the existing watermark key" in again.stderr
    assert "Kept the existing local C2PA CA" in again.stderr


def test_keys_init_after_generate_keeps_the_keys_generate_made(fresh) -> None:  # type: ignore[no-untyped-def]
    home, _, _ = fresh
    result = runner.invoke(app, ["--home", str(home), "keys", "init"])
    assert result.exit_code == 0, result.output
    assert "Kept the existing watermark key" in result.stderr
