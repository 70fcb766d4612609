"""Durable Content Credentials: a copy stripped of its metadata gets its manifest back through
the watermark's serial, in ``inspect`` and ``screen``, with SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.attacks import get_attack
from synthmark.cli.main import app
from synthmark.imaging import load_image
from synthmark.labelling import GenerationInfo, label, open_labelling
from synthmark.settings import Settings
from tests import hostile
from tests.test_label import make_home

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def photo(shared_data: Path, size: int = 512) -> Image.Image:
    path = sorted((shared_data / "detector" / "real_unsplash_men").glob("*.jpg"))[3]
    return load_image(path).image.resize((size, size), Image.Resampling.LANCZOS)


def jpeg_copy(image: Image.Image, quality: int = 75) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path, shared_data: Path) -> dict[str, Any]:
    """A home with keys, a registry of the given kind and one labelled picture."""
    settings = make_home(tmp_path / "home")
    env = {"SYNTHMARK_HOME": str(settings.home)}
    if request.param == "postgresql":
        env["SYNTHMARK_REGISTRY"] = request.getfixturevalue("pg_url")
    settings = Settings(home=settings.home, registry_url=env.get("SYNTHMARK_REGISTRY"))
    with open_labelling(settings, provider="Acme") as parts:
        result = label(photo(shared_data), GenerationInfo(model="sd-test", seed=3),
                       tmp_path / "made.png", labelling=parts)
    return {"env": env, "result": result, "tmp": tmp_path}


def _inspect(env: dict[str, str], path: Path) -> dict[str, Any]:
    out = runner.invoke(app, ["inspect", str(path), "--json"], env=env)
    assert out.exit_code == 0, out.output
    record: dict[str, Any] = json.loads(out.stdout.splitlines()[0])
    return record


@pytest.mark.parametrize("attack", ["none", "jpeg:75", "resize:0.5", "crop:0.5"])
def test_a_stripped_copy_recovers_its_manifest_in_inspect(
    world: dict[str, Any], attack: str
) -> None:
    made = world["result"]
    pixels = Image.open(made.path).convert("RGB")
    copy = hostile.write(world["tmp"] / "copy.jpg",
                         jpeg_copy(get_attack(attack).apply(pixels), quality=90))
    c2pa = _inspect(world["env"], copy)["c2pa"]
    assert c2pa["recovered"] is True and c2pa["present"] is False  # not in the copy itself
    assert c2pa["manifest_id"] == made.manifest_id
    assert c2pa["claim_generator"].startswith("synthmark/")
    assert AI in c2pa["digital_source_types"]
    assert c2pa["recovered_via"] == f"watermark serial {made.serial}"
    assert c2pa["signature_state"] == "Trusted"
    assert c2pa["hard_binding"] == "mismatch"
    assert "assertion.dataHash.mismatch" in [
        s["code"] for s in c2pa["validation_codes"] if s["kind"] == "failure"
    ]
    human = runner.invoke(app, ["inspect", str(copy)], env=world["env"])
    text = " ".join(human.output.split())
    assert f"recovered {made.manifest_id} through the watermark serial {made.serial}" in text
    assert "signature Trusted, hard binding mismatch" in text


def test_screen_reports_the_recovered_manifest(world: dict[str, Any]) -> None:
    made = world["result"]
    copy = hostile.write(world["tmp"] / "copy.jpg", jpeg_copy(Image.open(made.path)))
    out = runner.invoke(app, ["screen", str(copy), "--json", "--no-detector"], env=world["env"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout.splitlines()[0])
    layer = record["layers"]["c2pa"]
    assert layer["recovered"] is True and layer["present"] is False
    assert layer["manifest_id"] == made.manifest_id
    assert layer["claim_generator"].startswith("synthmark/")
    assert AI in layer["digital_source_types"]
    assert record["verdict"] == "synthetic"
    [said] = [r for r in record["reasons"] if "recovered from the registry" in r]
    assert "does not match this copy's bytes" in said and "declares AI generation" in said


def test_the_original_keeps_its_own_manifest_and_unmarked_images_recover_nothing(
    world: dict[str, Any], shared_data: Path
) -> None:
    made = world["result"]
    own = _inspect(world["env"], made.path)["c2pa"]
    assert own["recovered"] is False and own["validation_state"] == "Trusted"
    plain = hostile.write(world["tmp"] / "plain.jpg", jpeg_copy(photo(shared_data)))
    assert _inspect(world["env"], plain)["c2pa"]["recovered"] is False
