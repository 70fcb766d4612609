"""What the integrations share: the output checks (the same as ``generate``'s) and the
failure policy. The helpers here are imported by the other ``test_integrations_*`` files."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.errors import UsageError
from synthmark.integrations.common import (
    FAILURE_ENV,
    Item,
    LabellingFailed,
    OnFailure,
    label_batch,
    open_parts,
)
from synthmark.labelling import GenerationInfo
from synthmark.registry import open_registry
from synthmark.settings import Settings

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def inspect_file(path: Path, home: Path) -> dict[str, Any]:
    """``synthmark inspect --json`` of one file, against ``home``."""
    result = runner.invoke(app, ["inspect", str(path), "--json"], env={"SYNTHMARK_HOME": str(home)})
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 1
    record: dict[str, Any] = records[0]
    return record


def assert_labelled(path: Path, home: Path, serial: int | None = None) -> dict[str, Any]:
    """The checks ``generate``'s outputs pass: a valid C2PA manifest with
    trainedAlgorithmicMedia, XMP, our watermark with its serial, and the registry record.
    Returns the inspect record."""
    record = inspect_file(path, home)
    assert record["c2pa"]["present"] is True
    assert record["c2pa"]["validation_state"] in ("Valid", "Trusted")
    assert AI in record["c2pa"]["digital_source_types"]
    assert record["xmp"]["digital_source_type"] == AI
    ours = next(w for w in record["watermarks"] if w["scheme"] == "synthmark")
    assert ours["status"] == "present"
    found = int(ours["payload"], 16)
    if serial is not None:
        assert found == serial
    assert record["registry_record"]["serial"] == found
    assert record["registry_record"]["status"] == "committed"
    stored = open_registry(Settings(home=home)).get(found)
    assert stored is not None and stored.manifest_id == record["c2pa"]["manifest_id"]
    return record


def assert_stripped_copy_found(path: Path, home: Path, tmp: Path) -> None:
    """A JPEG copy of the pixels, with no metadata at all, is still traced: the watermark
    carries the serial, and screen says synthetic."""
    with Image.open(path) as im:
        pixels = im.convert("RGB")
    stripped = tmp / f"stripped-{path.stem}.jpg"
    buf = io.BytesIO()
    pixels.save(buf, format="JPEG", quality=80)
    stripped.write_bytes(buf.getvalue())
    record = inspect_file(stripped, home)
    ours = next(w for w in record["watermarks"] if w["scheme"] == "synthmark")
    assert ours["status"] == "present"
    assert record["registry_record"]["serial"] == int(ours["payload"], 16)
    screened = runner.invoke(
        app, ["screen", str(stripped), "--json", "--no-detector"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    line = next(x for x in screened.stdout.splitlines() if x.startswith("{"))
    assert json.loads(line)["verdict"] == "synthetic", screened.output


def texture(side: int = 256, seed: int = 0) -> Image.Image:
    """A smooth, seeded picture the mark embeds into reliably."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(side // 16, side // 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)


# -- the failure policy ------------------------------------------------------------------


def test_policy_default_is_error_and_the_environment_can_opt_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FAILURE_ENV, raising=False)
    assert OnFailure.resolve(None) is OnFailure.error
    monkeypatch.setenv(FAILURE_ENV, "save_unlabelled")
    assert OnFailure.resolve(None) is OnFailure.save_unlabelled
    assert OnFailure.resolve("error") is OnFailure.error  # an explicit choice wins
    with pytest.raises(UsageError, match="unknown failure policy 'skip'; known: error"):
        OnFailure.resolve("skip")


def test_open_parts_creates_key_and_ca_on_first_use_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    monkeypatch.setenv("SYNTHMARK_PROVIDER", "Acme Studio")
    settings = Settings.from_env(tmp_path / "home")
    with open_parts(settings, notify=said.append) as parts:
        assert parts.provider == "Acme Studio"
    assert any("watermark key" in s for s in said) and any("signing CA" in s for s in said)
    with open_parts(settings, notify=said.append):
        pass
    assert len(said) == 2  # made once
    monkeypatch.delenv("SYNTHMARK_PROVIDER")
    settings = Settings.from_env(tmp_path / "home")
    with open_parts(settings, notify=said.append) as parts:
        assert parts.provider is None
    assert "No provider named (SYNTHMARK_PROVIDER)" in said[-1]


def test_a_batch_labels_what_it_can_then_fails_loudly_keeping_every_picture(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    out = tmp_path / "out"
    out.mkdir()
    good, small = texture(256), texture(128)
    info = GenerationInfo(model="test/model", seed=1)
    items = [Item(small, info, out), Item(good, info, out)]
    with (
        open_parts(Settings(home=home)) as parts,
        caplog.at_level(logging.ERROR),
        pytest.raises(LabellingFailed, match=r"1 of 2 images \(image 0: ImageTooSmall") as err,
    ):
        label_batch(parts, items)
    assert "could not label image 0" in caplog.text
    assert err.value.images[0] is small  # kept, as made
    assert err.value.results[0] is None and err.value.results[1] is not None
    files = sorted(p.name for p in out.iterdir())
    assert files == [err.value.results[1].path.name]  # the good one only; nothing unlabelled
    assert_labelled(err.value.results[1].path, home)


def test_opting_in_saves_the_picture_unlabelled_and_named_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    small = texture(128)
    target = out / "picture_00001_.png"
    item = Item(small, GenerationInfo(model="m"), target, texts=[("workflow", "{}")])
    with open_parts(Settings(home=tmp_path / "home")) as parts, caplog.at_level(logging.ERROR):
        outcome = label_batch(parts, [item], on_failure=OnFailure.save_unlabelled)
    assert outcome.results == [None]
    saved = outcome.unlabelled[0]
    assert saved == out / "picture_00001_.unlabelled.png" and not target.exists()
    with Image.open(saved) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(small))
        assert im.text["workflow"] == "{}"
    assert "UNLABELLED" in caplog.text and "could not label image 0" in caplog.text


def test_extra_text_chunks_are_signed_png_only(tmp_path: Path) -> None:
    """The labelling API's ``texts``: written before signing (the manifest validates over
    them), refused for JPEG and for the labeller's own keys."""
    home = tmp_path / "home"
    with open_parts(Settings(home=home)) as parts:
        result = parts.label(texture(), GenerationInfo(model="m"), tmp_path / "a.png",
                             texts=[("workflow", '{"nodes": []}')])
        with pytest.raises(UsageError, match="only be written into a PNG"):
            parts.label(texture(), GenerationInfo(model="m"), tmp_path / "b.jpg",
                        texts=[("workflow", "{}")])
        with pytest.raises(UsageError, match="'parameters' is written by the labeller"):
            parts.label(texture(), GenerationInfo(model="m"), tmp_path / "c.png",
                        texts=[("parameters", "x")])
    with Image.open(result.path) as im:
        assert im.text["workflow"] == '{"nodes": []}'
    assert_labelled(result.path, home, result.serial)
    assert not (tmp_path / "b.jpg").exists() and not (tmp_path / "c.png").exists()
