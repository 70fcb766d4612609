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
    assert again.exit_code == 2
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
        (["--payload", "12"], "must be 16 hex digits (8 bytes, e.g. 00000000000004d2)"),
        (["--payload", "04d2"], "for scheme 'synthmark'; got 4 hex digits: pad it"),
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


# -- QA fixes: read-back after embed, own input, stdout table, explicit keys ------------------


def _text_screenshot(path: Path) -> Path:
    """About 97% white: too flat for the mark to read back, though embed itself runs."""
    from PIL import ImageDraw

    image = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(image)
    for i in range(10):
        line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"
        draw.text((20, 20 + 30 * i), line, fill="black")
    image.save(path)
    return path


@pytest.mark.parametrize(("name", "extra"), [("out.png", []), ("out.jpg", ["--quality", "10"])])
def test_embed_that_does_not_read_back_is_an_error_and_writes_nothing(
    photo_path: Path, tmp_path: Path, name: str, extra: list[str]
) -> None:
    assert runner.invoke(app, ["watermark", "keygen"]).exit_code == 0
    source = _text_screenshot(tmp_path / "text.png") if name == "out.png" else photo_path
    out = tmp_path / name
    result = runner.invoke(
        app, ["watermark", "embed", str(source), "-o", str(out), "--payload", PAYLOAD, *extra]
    )
    assert result.exit_code == 1, result.output
    assert "Error: the synthmark watermark did not read back" in result.output
    # the error says why a mark may not fit: mostly black-and-white text is such a case
    assert "pure black and white (line art)" in " ".join(result.output.split())
    assert "PSNR" not in result.output
    assert not out.exists()


def test_embed_refuses_to_overwrite_its_own_input(photo_path: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["watermark", "keygen"]).exit_code == 0
    before = photo_path.read_bytes()
    same = tmp_path / "." / photo_path.name  # the same file by another spelling
    result = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(same), "--payload", PAYLOAD]
    )
    assert result.exit_code != 0
    assert "is the input" in result.output
    assert photo_path.read_bytes() == before
    # another existing output is replaced, as the help says
    other = tmp_path / "other.png"
    other.write_bytes(b"old")
    result = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(other), "--payload", PAYLOAD]
    )
    assert result.exit_code == 0, result.output
    assert other.read_bytes() != b"old"
    help_text = runner.invoke(app, ["watermark", "embed", "--help"]).output
    assert "replaced" in " ".join(help_text.replace("│", " ").split())


def test_read_table_goes_to_stdout_with_errors_in_their_own_column(
    photo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = Path("nope.png")
    result = runner.invoke(app, ["-q", "watermark", "read", photo_path.name, str(missing)])
    assert result.exit_code == 1
    rows = [" ".join(line.replace("│", " ").replace("┃", " ").split())
            for line in result.stdout.splitlines()]
    assert any(row.startswith("path scheme status payload p-value note") for row in rows), rows
    assert any(photo_path.name in row and "absent" in row for row in rows), rows
    error_row = next(row for row in rows if missing.name in row)
    assert "error" in error_row and "no such file" in " ".join(rows)


def test_read_json_error_does_not_repeat_the_path(tmp_path: Path) -> None:
    text = hostile.write(tmp_path / "text.png", b"not an image at all")
    result = runner.invoke(app, ["-q", "watermark", "read", str(text), "--json"])
    assert result.exit_code == 1
    line = json.loads(result.stdout.splitlines()[0])
    assert line["path"] == str(text)
    assert line["error"].startswith("not an image"), line["error"]


def _bad_keys(tmp_path: Path) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.key"
    corrupt.write_text("synthmark-watermark-key-v1\nzz\n")
    short = tmp_path / "short.key"
    short.write_text("synthmark-watermark-key-v1\n00ff\n")
    return {"missing": tmp_path / "nonexist.key", "corrupt": corrupt, "short": short}


@pytest.mark.parametrize("kind", ["missing", "corrupt", "short"])
@pytest.mark.parametrize("via", ["option", "env"])
def test_read_with_a_bad_explicit_key_is_an_error(
    photo_path: Path, tmp_path: Path, kind: str, via: str
) -> None:
    key = _bad_keys(tmp_path)[kind]
    args = ["watermark", "read", str(photo_path), "--json"]
    if via == "option":
        result = runner.invoke(app, [*args, "--key-file", str(key)])
    else:
        result = runner.invoke(app, args, env={"SYNTHMARK_WATERMARK_KEY": str(key)})
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and str(key) in result.output
    assert "not checked" not in result.output and result.stdout == ""


@pytest.mark.parametrize("kind", ["missing", "corrupt", "short"])
def test_screen_with_a_bad_explicit_key_is_an_error(
    photo_path: Path, tmp_path: Path, kind: str
) -> None:
    key = _bad_keys(tmp_path)[kind]
    result = runner.invoke(
        app,
        ["screen", str(photo_path), "--no-detector", "--json"],
        env={"SYNTHMARK_WATERMARK_KEY": str(key)},
    )
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and str(key) in result.output


def test_screener_spec_refuses_a_bad_explicit_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve and inspect build their screener from the same spec."""
    from synthmark.errors import KeyMissing
    from synthmark.screen.assemble import ScreenerSpec, build_screener
    from synthmark.settings import Settings

    monkeypatch.setenv("SYNTHMARK_WATERMARK_KEY", str(tmp_path / "nonexist.key"))
    with pytest.raises(KeyMissing, match=r"nonexist\.key"):
        build_screener(ScreenerSpec.from_settings(Settings.from_env(), use_detector=False))


def test_screen_without_any_key_says_the_mark_was_not_checked(
    photo_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = runner.invoke(app, ["screen", str(photo_path), "--no-detector", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert any("synthmark watermark not checked: no key" in n for n in record["notes"])
    warnings = [r for r in caplog.records if "watermark not checked" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"


def test_screen_with_the_explicit_key_reads_the_mark(photo_path: Path, tmp_path: Path) -> None:
    key = tmp_path / "elsewhere.key"
    env = {"SYNTHMARK_WATERMARK_KEY": str(key)}
    assert runner.invoke(app, ["watermark", "keygen"], env=env).exit_code == 0
    out = tmp_path / "marked.png"
    made = runner.invoke(
        app, ["watermark", "embed", str(photo_path), "-o", str(out), "--payload", PAYLOAD], env=env
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["screen", str(out), "--no-detector", "--json"], env=env)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])
    assert record["layers"]["watermarks"]["synthmark"]["status"] == "present"
    assert not any("not checked" in n for n in record["notes"])
