"""``synthmark watermark``: keygen, embed and read, their JSON and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from tests import hostile

runner = CliRunner()
PAYLOAD = "00000000000004d2"


@pytest.fixture()
def photo_path(shared_data: Path, tmp_path: Path) -> Path:
    source = shared_data / "detector/real_unsplash_men/man_unsplash_00135.jpg"
    path = tmp_path / "photo.png"
    Image.open(source).convert("RGB").save(path)
    return path


def test_keygen_writes_a_private_key_and_never_prints_it(synthmark_home: Path) -> None:
    result = runner.invoke(app, ["watermark", "keygen", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    path = Path(record["path"])
    assert path == synthmark_home / "keys" / "watermark.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text().split()[1]
    assert secret not in result.output
    again = runner.invoke(app, ["watermark", "keygen"])
    assert again.exit_code == 1
    assert "Error: a watermark key already exists" in again.output


def test_embed_then_read_json(photo_path: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["watermark", "keygen"]).exit_code == 0
    out = tmp_path / "marked.png"
    result = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(out), "--payload", PAYLOAD]
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
    result = runner.invoke(app, ["watermark", "read", str(out), str(photo_path), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(out), str(photo_path)]
    for line in lines:
        assert {"path", "scheme", "status", "payload", "p_value"} <= set(line)
    assert lines[0]["scheme"] == "synthmark" and lines[0]["status"] == "present"
    assert lines[0]["payload"] == PAYLOAD and lines[0]["p_value"] <= 1e-6
    assert lines[1]["status"] == "absent" and lines[1]["payload"] is None
    assert {r["scheme"] for r in lines[1]["readouts"]} == {"synthmark", "sd1", "sd2", "sdxl"}


def test_read_one_scheme_and_a_missing_file(photo_path: Path, tmp_path: Path) -> None:
    marked = tmp_path / "sdxl.png"
    result = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(marked), "--scheme", "sdxl"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "watermark",
            "read",
            str(marked),
            str(tmp_path / "nope.png"),
            "--scheme",
            "sdxl",
            "--json",
        ],
    )
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["scheme"] == "sdxl" and first["p_value"] is None
    assert second["status"] is None and "no such file" in second["error"]


def test_read_synthmark_without_a_key_is_an_error(photo_path: Path) -> None:
    result = runner.invoke(app, ["watermark", "read", str(photo_path), "--scheme", "synthmark"])
    assert result.exit_code == 1
    assert "Error: no watermark key" in result.output


def test_auto_read_without_a_key_still_reads_public_marks(photo_path: Path) -> None:
    result = runner.invoke(app, ["watermark", "read", str(photo_path), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert {r["scheme"] for r in line["readouts"]} == {"sd1", "sd2", "sdxl"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--payload", "12"], "(16 hex digits)"),
        (["--payload", "zz"], "hexadecimal"),
        (["--payload", PAYLOAD, "--scheme", "nope"], "nope"),
    ],
)
def test_embed_usage_errors_exit_2(
    photo_path: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    assert runner.invoke(app, ["watermark", "keygen"]).exit_code == 0
    result = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(tmp_path / "o.png"), *args]
    )
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())


def test_embed_too_small_image_is_a_clear_runtime_error(tmp_path: Path) -> None:
    assert runner.invoke(app, ["watermark", "keygen"]).exit_code == 0
    small = hostile.write(tmp_path / "small.png", hostile.png_bytes(hostile.photo_like((120, 90))))
    result = runner.invoke(
        app, ["watermark", "embed", str(small), "-o", str(tmp_path / "o.png"), "--payload", PAYLOAD]
    )
    assert result.exit_code == 1
    assert "Error: image is 120x90" in result.output
    assert not (tmp_path / "o.png").exists()


def test_bench_command_prints_the_table(shared_data: Path) -> None:
    result = runner.invoke(
        app,
        [
            "watermark",
            "bench",
            "--data",
            str(shared_data / "detector"),
            "--n",
            "1",
            "--sizes",
            "512",
            "--schemes",
            "synthmark",
            "--attacks",
            "none,hflip",
            "--unmarked",
            "1",
            "--timing",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| hflip | 100.0 / 100.0 / 100.0 |" in result.stdout
