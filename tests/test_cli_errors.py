"""What a newcomer runs into: typos, bad values, unreadable files and piped output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from tests import hostile

runner = CliRunner()


def _home(tmp_path: Path) -> list[str]:
    return ["--home", str(tmp_path / "home")]


# -- screen: a CI gate must not pass on a typo ------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        (["typo.png"], "typo.png: no such file or folder"),
        (["nomatch-*.png"], "no file matches the pattern"),
        (["empty"], "no image files in empty"),
    ],
)
def test_screen_refuses_inputs_that_name_nothing(
    inputs: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        app, [*_home(tmp_path), "screen", *inputs, "--fail-on", "likely_synthetic"]
    )
    assert result.exit_code == 2, result.output
    assert named in result.stderr and result.stderr.startswith("Error: ")
    assert result.stdout == ""  # refused before anything was screened


def test_screen_with_one_typo_among_good_files_screens_nothing(tmp_path: Path) -> None:
    good = hostile.write(tmp_path / "good.png", hostile.png_bytes(hostile.photo_like((64, 64))))
    out = tmp_path / "results.jsonl"
    result = runner.invoke(
        app, [*_home(tmp_path), "screen", str(good), str(tmp_path / "typo.png"), "-o", str(out)]
    )
    assert result.exit_code == 2 and "typo.png" in result.stderr
    assert not out.exists()


# -- screen --workers -------------------------------------------------------------------------


def test_workers_auto_uses_the_cores_but_not_for_a_handful_of_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synthmark.errors import UsageError
    from synthmark.screen import batch

    monkeypatch.setattr(batch, "available_cores", lambda: 2)
    assert batch.resolve_workers("auto", 200) == 2
    assert batch.resolve_workers("auto", 3) == 1
    assert batch.resolve_workers("3", 3) == 3
    for bad in ("0", "-1", "many"):
        with pytest.raises(UsageError, match="--workers must be 'auto'"):
            batch.resolve_workers(bad, 10)


def test_screen_defaults_to_auto_workers() -> None:
    result = runner.invoke(app, ["screen", "--help"], env={"COLUMNS": "2000"})
    assert "[default: auto]" in result.output


# -- watermark embed --payload ----------------------------------------------------------------


def test_a_short_payload_says_which_length_is_expected(tmp_path: Path) -> None:
    image = hostile.write(tmp_path / "in.png", hostile.png_bytes(hostile.photo_like((300, 300))))
    assert runner.invoke(app, [*_home(tmp_path), "watermark", "keygen"]).exit_code == 0
    result = runner.invoke(
        app,
        [*_home(tmp_path), "watermark", "embed", str(image), "-o", str(tmp_path / "o.png"),
         "--payload", "4d2"],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "must be 16 hex digits (8 bytes, e.g. 00000000000004d2)" in text
    assert "got 3 hex digits: pad it with leading zeros" in text
    assert "must be hexadecimal" not in text
    assert not (tmp_path / "o.png").exists()


# -- unreadable inputs: Error: on stderr, exit 1 ---------------------------------------------


@pytest.mark.parametrize(
    "command", [["watermark", "read"], ["inspect"], ["probe"], ["registry", "lookup"]]
)
def test_an_unreadable_input_is_an_error_on_stderr(command: list[str], tmp_path: Path) -> None:
    zero = tmp_path / "zero.png"
    zero.write_bytes(b"")
    result = runner.invoke(app, [*_home(tmp_path), *command, str(zero)])
    assert result.exit_code == 1
    error = next(line for line in result.stderr.splitlines() if line.startswith("Error:"))
    assert error.startswith("Error: 1 of 1 input(s) could not be read"), result.stderr
    assert f"{zero}: empty file" in error


# -- piped tables keep every value whole ------------------------------------------------------


def test_piped_tables_print_full_values(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 3)
    deep.mkdir()
    image = hostile.write(deep / "photo.png", hostile.png_bytes(hostile.photo_like((320, 320))))
    marked = deep / "marked-with-a-long-file-name.png"
    home = _home(tmp_path)
    assert runner.invoke(app, [*home, "watermark", "keygen"]).exit_code == 0
    embed = [*home, "watermark", "embed", str(image), "-o", str(marked)]
    assert runner.invoke(app, [*embed, "--payload", "00000000000004d2"]).exit_code == 0
    read = runner.invoke(app, [*home, "watermark", "read", str(marked)])
    assert read.exit_code == 0, read.output
    assert "00000000000004d2" in read.stdout and str(marked) in read.stdout
    assert "…" not in read.stdout

    from datetime import datetime, timezone

    from synthmark.registry import open_registry
    from synthmark.settings import Settings

    data = hostile.png_bytes(hostile.photo_like((64, 64)))
    with open_registry(Settings(home=tmp_path / "home")) as registry:
        serial = registry.reserve(watermark_scheme="synthmark", model_id="a/model", pipeline="P")
        registry.commit(
            serial, data=data, manifest_id="urn:c2pa:0f0e0d0c-0b0a-4909-8807-060504030201",
            model_id="a/model-with-a-long-name", model_hash="0" * 64, pipeline="P",
            parameters={}, prompt="x", keep_prompt=False, image_format="PNG", width=512,
            height=512, created_at=datetime.now(timezone.utc),
        )
    listed = runner.invoke(app, [*home, "registry", "list"])
    assert listed.exit_code == 0, listed.output
    assert "committed" in listed.stdout and "a/model-with-a-long-name" in listed.stdout
    assert hashlib.sha256(data).hexdigest() in listed.stdout
    assert "urn:c2pa:0f0e0d0c-0b0a-4909-8807-060504030201" in listed.stdout
    assert "…" not in listed.stdout


# -- --model: a path that is not there is a usage error, like one that is not a model ------


@pytest.mark.parametrize("command", [["screen"], ["detect", "predict"]])
def test_a_model_path_that_does_not_exist_is_a_usage_error(
    command: list[str], tmp_path: Path
) -> None:
    image = hostile.write(tmp_path / "x.png", hostile.png_bytes(hostile.photo_like((64, 64))))
    missing = runner.invoke(
        app,
        [*_home(tmp_path), *command, str(image), "--model", str(tmp_path / "nosuchdir")],
        env={"COLUMNS": "1000"},  # the whole path on one line of the error box
    )
    not_a_model = runner.invoke(app, [*_home(tmp_path), *command, str(image), "--model",
                                      str(image)])
    assert missing.exit_code == not_a_model.exit_code == 2
    assert "nosuchdir" in missing.output and "does not exist" in missing.output


def test_json_of_a_piped_probe_is_unchanged(tmp_path: Path) -> None:
    """The wide console is for tables; JSON Lines stay one object per line."""
    image = hostile.write(tmp_path / "p.png", hostile.png_bytes(hostile.photo_like((64, 64))))
    result = runner.invoke(app, [*_home(tmp_path), "probe", str(image), "--json"])
    assert json.loads(result.stdout)["width"] == 64
