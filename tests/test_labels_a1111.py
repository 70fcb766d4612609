"""AUTOMATIC1111 infotext (:mod:`synthmark.labels.a1111`): format and parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.labels import read_labels
from synthmark.labels.a1111 import format_parameters, parse_parameters


def test_a1111_round_trip_with_quoting() -> None:
    params = {
        "prompt": "a cat, on a mat\nsecond line",
        "negative_prompt": "blurry",
        "steps": 30,
        "sampler": "DPM++ 2M Karras",
        "cfg_scale": 6.5,
        "seed": 42,
        "size": (512, 768),
        "model": "sd_xl_base_1.0",
        "lora": "detail: 0.8, style",
    }
    text = format_parameters(params)
    assert text.splitlines()[-1].startswith(
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 42, Size: 512x768"
    )
    parsed = parse_parameters(text)
    assert parsed is not None
    fields = parsed.normalised()
    assert fields["prompt"] == "a cat, on a mat\nsecond line"
    assert fields["negative_prompt"] == "blurry"
    assert (fields["steps"], fields["cfg_scale"], fields["seed"]) == (30, 6.5, 42)
    assert (fields["width"], fields["height"]) == (512, 768)
    assert fields["lora"] == "detail: 0.8, style"


def test_a1111_without_prompt_is_still_infotext() -> None:
    text = format_parameters({"prompt": "secret", "steps": 4, "seed": 1, "sampler": "Euler"}, False)
    assert "secret" not in text
    parsed = parse_parameters(text)
    assert parsed is not None and parsed.prompt == "" and parsed.fields["Steps"] == "4"


@pytest.mark.parametrize(
    "text", ["", "just a prompt", "a\nSteps: 3", "Foo: 1, Bar: 2, Baz: 3", "x" * 10_000]
)
def test_text_that_is_not_infotext(text: str) -> None:
    assert parse_parameters(text) is None


def test_forge_and_fooocus_name_themselves() -> None:
    forge = parse_parameters("p\nSteps: 2, Sampler: Euler, Seed: 1, Version: f2.0.1v1.10.1")
    fooocus = parse_parameters("p\nSteps: 2, Sampler: Euler, Seed: 1, Version: Fooocus v2.5.0")
    assert forge is not None and forge.tool == "Forge"
    assert fooocus is not None and fooocus.tool == "Fooocus"


def test_real_a1111_pngs_give_their_parameters(shared_data: Path) -> None:
    expected = {"sample-2.png": 3162372422, "sample-3.png": 3687379636}
    for name, seed in expected.items():
        report = read_labels((shared_data / "provenance" / "a1111" / name).read_bytes(), name)
        [meta] = report.generators
        assert meta.tool == "AUTOMATIC1111" and meta.where == "PNG tEXt 'parameters'"
        assert meta.fields["seed"] == seed
        assert meta.fields["steps"] == 15 and meta.fields["sampler"] == "DPM++ 2M Karras"
        assert meta.fields["model"] == "7th_anime_v3_A-fp16"
        assert meta.fields["negative_prompt"] == "(low quality, worst quality:1.4), nsfw"
        assert "white shirt with green tie" in meta.fields["prompt"]
        assert report.c2pa.present is False and report.declared_ai == []


def test_real_webui_webp_parameters_from_exif(shared_data: Path) -> None:
    path = shared_data / "detector" / "sd15_webui_collages" / "types" / "00-photo.webp"
    report = read_labels(path.read_bytes(), path)
    assert report.exif.user_comment is not None
    assert report.exif.user_comment.startswith("photo of Henry Cavill")
    [meta] = report.generators
    assert meta.tool == "AUTOMATIC1111" and meta.where == "EXIF UserComment"
    assert meta.fields["seed"] == 1304471330 and meta.fields["model"] == (
        "IL_Deliberate 2.0 [deliberate_v2]"
    )
