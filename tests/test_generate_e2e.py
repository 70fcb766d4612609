"""End to end with the tiny model: generate, inspect, strip, and still find the image."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.errors import LabelError
from synthmark.registry import open_registry
from synthmark.settings import Settings

pytestmark = pytest.mark.timeout(180)
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:  # type: ignore[type-arg]
    home = tmp_path_factory.mktemp("gen-home")
    out = tmp_path_factory.mktemp("gen-out")
    env = {"SYNTHMARK_HOME": str(home)}
    result = runner.invoke(
        app,
        ["generate", "a lighthouse at dusk", "-n", "2", "-o", str(out), "--seed", "5", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    return home, out, _json_lines(result.stdout)


def test_every_output_is_marked_labelled_and_registered(generated) -> None:  # type: ignore[no-untyped-def]
    home, _out, results = generated
    assert len(results) == 2
    registry = open_registry(Settings(home=home))
    for produced in results:
        inspected = runner.invoke(
            app, ["inspect", produced["path"], "--json"], env={"SYNTHMARK_HOME": str(home)}
        )
        assert inspected.exit_code == 0, inspected.output
        (record,) = _json_lines(inspected.stdout)
        assert record["c2pa"]["present"] is True
        assert record["c2pa"]["validation_state"] in ("Valid", "Trusted")
        assert AI in record["c2pa"]["digital_source_types"]
        assert record["xmp"]["digital_source_type"] == AI
        assert any(g["tool"] == "AUTOMATIC1111" for g in record["generators"])
        ours = next(w for w in record["watermarks"] if w["scheme"] == "synthmark")
        assert ours["status"] == "present"
        serial = int(ours["payload"], 16)
        assert serial == produced["serial"]
        stored = registry.get(serial)
        assert stored is not None and stored.status.value == "committed"
        assert stored.sha256 == produced["sha256"]
        assert stored.manifest_id == record["c2pa"]["manifest_id"]
        assert stored.prompt is None  # the text only on opt-in


def test_stripped_jpeg_copy_is_still_found(generated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, _, results = generated
    env = {"SYNTHMARK_HOME": str(home)}
    original = results[1]
    with Image.open(original["path"]) as im:
        pixels = im.convert("RGB")
    stripped = tmp_path / "stripped.jpg"
    buf = io.BytesIO()
    pixels.save(buf, format="JPEG", quality=75)
    stripped.write_bytes(buf.getvalue())
    inspected = _json_lines(
        runner.invoke(app, ["inspect", str(stripped), "--json"], env=env).stdout
    )[0]
    assert inspected["c2pa"]["present"] is False
    assert inspected["xmp"]["digital_source_type"] is None
    ours = next(w for w in inspected["watermarks"] if w["scheme"] == "synthmark")
    assert ours["status"] == "present"
    assert int(ours["payload"], 16) == original["serial"]
    lookup = runner.invoke(app, ["registry", "lookup", str(stripped), "--json"], env=env)
    assert lookup.exit_code == 0, lookup.output
    found = _json_lines(lookup.stdout)[0]
    assert found["similar"][0]["record"]["serial"] == original["serial"]


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["generate", "x", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "Error:" in result.output and "no such file or folder" in result.output
    assert not any((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


def test_unwritable_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root ignores permission bits; /proc refuses everyone
        target = Path("/proc")
    else:
        target = tmp_path / "locked"
        target.mkdir(mode=0o500)
    home = tmp_path / "home"
    result = runner.invoke(
        app, ["generate", "x", "-o", str(target), "--steps", "2"], env={"SYNTHMARK_HOME": str(home)}
    )
    assert result.exit_code == 1
    assert "Error: output folder" in result.output and "not writable" in result.output
    assert not list(target.glob("synthmark-*"))
    for record in open_registry(Settings(home=home)).list_records():
        assert record.status.value == "abandoned"  # nothing half-registered either


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = runner.invoke(app, ["generate", "x", "-o", str(blocker / "sub")])
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert blocker.read_text() == "x"


def test_a_failing_label_step_leaves_no_file_and_abandons_the_serial(tmp_path: Path) -> None:
    from synthmark.generate import GenerationRequest
    from synthmark.generate.assemble import build_generator

    settings = Settings(home=tmp_path / "home")
    generator = build_generator(settings, model="tiny")

    class BrokenLabeller:
        def apply(self, *args: object, **kwargs: object) -> None:
            raise LabelError("signing failed (test)")

    generator.labeller = BrokenLabeller()  # type: ignore[assignment]
    out = tmp_path / "out"
    with pytest.raises(LabelError, match="signing failed"):
        list(generator.generate([GenerationRequest("x", steps=2, width=256, height=256)], out))
    assert list(out.iterdir()) == []
    registry = open_registry(settings)
    (record,) = registry.list_records()
    assert record.status.value == "abandoned"


def test_prompts_file_and_formats(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(
        '{"prompt": "a cat", "seed": 11}\n{"prompt": "a dog", "negative_prompt": "blur"}\n'
    )
    result = runner.invoke(
        app,
        [
            "generate",
            "--prompts",
            str(prompts),
            "-o",
            str(tmp_path / "o"),
            "--format",
            "webp",
            "--steps",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["seed"] for r in rows] == [11, 1]
    assert all(r["path"].endswith(".webp") for r in rows)
    both = runner.invoke(app, ["generate", "x", "--prompts", str(prompts)])
    assert both.exit_code == 2 and "exactly one" in both.output


def test_an_image_that_cannot_be_marked_is_skipped_with_on_error(tmp_path: Path) -> None:
    from synthmark.errors import WatermarkError
    from synthmark.generate import GenerationRequest
    from synthmark.generate.assemble import build_generator

    settings = Settings(home=tmp_path / "home")
    generator = build_generator(settings, model="tiny")
    real_marker = generator.marker

    class FlakyMarker:
        name = real_marker.name
        payload_bits = real_marker.payload_bits
        calls = 0

        def embed(self, image, payload):  # type: ignore[no-untyped-def]
            FlakyMarker.calls += 1
            if FlakyMarker.calls == 2:
                raise WatermarkError("cannot carry the mark (test)")
            return real_marker.embed(image, payload)

        def extract(self, image):  # type: ignore[no-untyped-def]
            return real_marker.extract(image)

        def fallbacks(self):  # type: ignore[no-untyped-def]
            return []

    generator.marker = FlakyMarker()  # type: ignore[assignment]
    failed: list[int] = []
    requests = [GenerationRequest("x", seed=s, steps=2, width=256, height=256) for s in range(3)]
    results = list(generator.generate(requests, tmp_path / "out",
                                      on_error=lambda r, e: failed.append(r.seed)))
    assert [r.seed for r in results] == [0, 2] and failed == [1]
    assert len(list((tmp_path / "out").iterdir())) == 2
    statuses = sorted(r.status.value for r in open_registry(settings).list_records())
    assert statuses == ["abandoned", "committed", "committed"]


def test_public_mark_option_adds_the_sdxl_mark_beside_ours(tmp_path: Path) -> None:
    env = {"SYNTHMARK_HOME": str(tmp_path / "home")}
    made = runner.invoke(app, ["generate", "a pear", "-o", str(tmp_path / "o"), "--public-mark",
                               "--width", "512", "--height", "512", "--steps", "2", "--json"],
                         env=env)
    assert made.exit_code == 0, made.output
    path = _json_lines(made.stdout)[0]["path"]
    record = _json_lines(runner.invoke(app, ["inspect", path, "--json"], env=env).stdout)[0]
    status = {w["scheme"]: w["status"] for w in record["watermarks"]}
    assert status["synthmark"] == "present"
    assert status["sdxl"] == "present"
    lossy = runner.invoke(
        app, ["generate", "a pear", "-o", str(tmp_path / "j"), "--public-mark", "-f", "jpeg"],
        env=env,
    )
    assert lossy.exit_code == 2 and "--public-mark needs --format png" in lossy.output
    assert not (tmp_path / "j").exists()


def test_too_small_a_size_suggests_a_larger_one_not_another_scheme(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["generate", "a red barn", "-o", str(tmp_path / "out"), "--width", "128", "--height",
         "128", "--steps", "2"],
        env={"SYNTHMARK_HOME": str(tmp_path / "home"), "COLUMNS": "400"},
    )
    assert result.exit_code == 2  # refused before the model loads: a usage error
    text = " ".join(result.output.split())
    assert "128x128 is too small" in text and "(--width/--height)" in text
    assert "another scheme" not in text
    assert not (tmp_path / "out").exists()


def test_quiet_silences_the_libraries_warnings_too(tmp_path: Path) -> None:
    """diffusers logs a warning when the tiny pipeline is cast to float16 (see the next
    test); under ``-q`` stderr stays empty while the image is still written."""
    import subprocess
    import sys

    env = {**os.environ, "SYNTHMARK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    quiet = subprocess.run(
        [sys.executable, "-m", "synthmark", "-q", "generate", "a pear", "--dtype", "float16",
         "--steps", "2", "-o", str(tmp_path / "out")],
        env=env, capture_output=True, text=True,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


def test_quiet_libraries_raises_and_restores_their_log_levels() -> None:
    import logging

    import diffusers  # noqa: F401  (sets its logger's level on import)

    from synthmark.cli._common import quiet_libraries

    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("diffusers")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    try:
        before = logger.level
        with quiet_libraries(True):
            assert logger.getEffectiveLevel() == logging.ERROR
            logging.getLogger("diffusers.models").warning("hidden")
        assert logger.level == before
        with quiet_libraries(False):
            logging.getLogger("diffusers.models").warning("shown")
    finally:
        logger.removeHandler(handler)
    assert seen == ["shown"]
