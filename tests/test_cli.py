"""The command line's conventions: help, version, exit codes, JSON on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark import __version__
from synthmark.cli.main import app
from tests import hostile

runner = CliRunner()


def test_help_lists_the_sub_apps() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("watermark", "detect", "eval", "keys", "registry", "probe"):
        assert name in result.output


def test_option_help_keeps_its_default_text() -> None:
    """Rich would read "[default: ...]" in a help text as markup and drop it."""
    for command, text in (
        (["generate", "--help"], "(default: 25, tiny 10)"),
        (["inspect", "--help"], "(default: the home folder's SQLite registry)"),
        (["screen", "--help"], "(default: built in)"),
    ):
        result = runner.invoke(app, command, env={"COLUMNS": "400"})
        assert result.exit_code == 0
        assert text in " ".join(result.output.split()), command


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"synthmark {__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


def test_probe_json_and_per_file_errors(tmp_path: Path) -> None:
    good = hostile.write(tmp_path / "good.png", hostile.png_bytes(hostile.photo_like()))
    bad = hostile.write(
        tmp_path / "bad.jpg", hostile.truncated(hostile.jpeg_bytes(hostile.photo_like((200, 200))))
    )
    result = runner.invoke(app, ["probe", str(good), str(bad), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(bad)]
    assert lines[0]["format"] == "PNG" and "error" not in lines[0]
    assert "cannot decode" in lines[1]["error"]
    assert str(bad) not in lines[1]["error"]  # the path is in its own key, named once


def test_cli_start_up_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, synthmark.cli.main;"
        "names = ('torch', 'diffusers', 'timm', 'transformers', 'numpy');"
        "heavy = [m for m in names if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "synthmark", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"synthmark {__version__}"


def test_runtime_error_prints_error_and_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["probe", str(tmp_path / "missing.png")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.output


def test_image_data_on_stdin_is_a_usage_error(tmp_path: Path) -> None:
    """'-' reads file paths; piped image bytes get a clear error, not a traceback."""
    data = hostile.png_bytes(hostile.photo_like())
    for command in (
        ["screen", "--no-detector"],
        ["probe"],
        ["inspect"],
        ["watermark", "read"],
        ["detect", "predict"],
        ["registry", "lookup"],
    ):
        result = runner.invoke(app, [*command, "-"], input=data)
        assert result.exit_code in (1, 2), command
        assert isinstance(result.exception, SystemExit), (command, result.exception)
        assert "reads a list of file paths from stdin" in result.output, command
    listed = hostile.write(tmp_path / "listed.png", data)
    result = runner.invoke(app, ["probe", "-", "--json"], input=f"{listed}\n")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["path"] == str(listed)


def test_usage_errors_exit_2_and_runtime_errors_exit_1(tmp_path: Path) -> None:
    env = {"SYNTHMARK_HOME": str(tmp_path / "home")}
    usage = runner.invoke(app, ["screen", str(tmp_path), "--json", "--csv"], env=env)
    assert usage.exit_code == 2 and "Error:" in usage.output
    runtime = runner.invoke(app, ["probe", str(tmp_path / "missing.png")], env=env)
    assert runtime.exit_code == 1 and "could not be read" in runtime.output


def test_a_closed_pipe_is_not_reported_as_an_error(tmp_path: Path) -> None:
    data = hostile.png_bytes(hostile.photo_like((32, 32)))
    for i in range(800):  # far more output than a pipe buffers
        (tmp_path / f"p{i:03d}.png").write_bytes(data)
    script = "import sys; from synthmark.cli.main import app; sys.argv[0] = 'synthmark'; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "probe", "--json", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    _, err = proc.communicate(timeout=120)
    assert b"Error" not in err and b"Traceback" not in err
    assert proc.returncode == 141


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "watermark", "--images", ".", "--sizes", "0"], "at least 16 px"),
        (["eval", "watermark", "--images", ".", "--sizes", "abc"], "comma-separated integers"),
        (["eval", "watermark", "--images", ".", "--unmarked", "-5"], "0 (every image) or more"),
        (["eval", "detector", "--real", ".", "--fake", ".", "--grid", "jpeg:500"], "1..100"),
        (["detect", "predict", ".", "--jobs", "0"], "--jobs"),
        (["detect", "train", "--real", ".", "--fake", ".", "-o", "m", "--jobs", "-3"], "--jobs"),
        (["generate", "a cat", "--width", "0"], "--width"),
    ],
)
def test_bad_numbers_are_usage_errors(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_inspect_exits_1_when_an_input_cannot_be_read(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(hostile.png_bytes(hostile.photo_like((64, 64))))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    env = {"SYNTHMARK_HOME": str(tmp_path / "home")}
    both = runner.invoke(app, ["inspect", str(good), str(bad), "--json"], env=env)
    assert both.exit_code == 1
    assert [json.loads(line)["path"] for line in both.stdout.splitlines()] == [str(good), str(bad)]
    assert runner.invoke(app, ["inspect", str(good)], env=env).exit_code == 0


def test_human_inspect_shows_the_generation_parameters(shared_data: Path) -> None:
    path = shared_data / "provenance" / "a1111" / "sample-2.png"
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "prompt: a cute girl, white shirt with green tie, red shoes, blue hair, yellow " \
           "eyes, pink skirt" in lines
    assert "seed: 3162372422" in lines and "model: 7th_anime_v3_A-fp16" in lines
    assert "steps: 15" in lines and "sampler: DPM++ 2M Karras" in lines
