"""Label formats one by one: A1111 infotext, EXIF, XMP, containers and generator metadata."""

from __future__ import annotations

import datetime as dt
import io
import json
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from synthmark.labels import GENERATOR_READERS, list_label_readers, read_labels
from synthmark.labels.a1111 import format_parameters, parse_parameters
from synthmark.labels.containers import MAX_TEXT_BYTES, extract_blocks
from synthmark.labels.exif import build_exif, decode_user_comment, read_exif
from synthmark.labels.generators import get_generator_reader
from synthmark.labels.sourcetypes import TRAINED_ALGORITHMIC_MEDIA, declares_ai, short_name
from synthmark.labels.xmp import XmpFields, build_xmp, parse_xmp
from tests import hostile

# --- AUTOMATIC1111 infotext -------------------------------------------------------------


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


# --- EXIF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "order", "text"),
    [
        (b"UNICODE\x00" + "héllo".encode("utf-16-be"), ">", "héllo"),
        (b"UNICODE\x00" + "héllo".encode("utf-16-le"), ">", "héllo"),
        (b"UNICODE\x00" + "日本".encode("utf-16-le"), "<", "日本"),
        (b"ASCII\x00\x00\x00plain\x00\x00", None, "plain"),
        (b"\x00" * 8 + "utf8 ✓".encode(), None, "utf8 ✓"),
        (b"UNICODE\x00\x00", ">", None),
        (b"", None, None),
    ],
)
def test_user_comment_decoding(raw: bytes, order: str | None, text: str | None) -> None:
    assert decode_user_comment(raw, order) == text


def test_exif_written_reads_back_through_pillow_and_jpeg() -> None:
    exif = build_exif("synthmark 0.1", "a prompt\nSteps: 3, Sampler: Euler, Seed: 1")
    data = hostile.jpeg_bytes(hostile.photo_like(), exif=exif)
    report = read_exif(extract_blocks(data).exif)
    assert report.software == "synthmark 0.1"
    assert report.user_comment == "a prompt\nSteps: 3, Sampler: Euler, Seed: 1"


def test_exif_fields_of_a_camera_file() -> None:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Lightroom"
    report = read_labels(hostile.jpeg_bytes(hostile.photo_like(), exif=exif)).exif
    assert (report.make, report.model, report.software) == ("Canon", "EOS R5", "Lightroom")


# --- XMP ------------------------------------------------------------------------------------


def _fields(**kw: object) -> XmpFields:
    base: dict[str, object] = dict(
        digital_source_type=TRAINED_ALGORITHMIC_MEDIA,
        credit='Made with AI <by "us"> & co',
        creator_tool="synthmark",
        created=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    )
    base.update(kw)
    return XmpFields(**base)  # type: ignore[arg-type]


def test_xmp_round_trip_escapes_text() -> None:
    packet = build_xmp(_fields(ai_system="m", prompt="a <b> & c"))
    report = parse_xmp(packet)
    assert report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.credit == 'Made with AI <by "us"> & co'
    assert report.ai_system_used == "m" and report.ai_prompt == "a <b> & c"


def test_xmp_element_and_resource_forms() -> None:
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
      xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
      xmlns:dc="http://purl.org/dc/elements/1.1/">
      <Iptc4xmpExt:DigitalSourceType
        rdf:resource="https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
      <dc:description><rdf:Alt><rdf:li xml:lang="x-default">a fox Job ID:
        0f0e2c4a-1b2c-4d5e-8f90-123456789abc</rdf:li></rdf:Alt></dc:description>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    report = parse_xmp(packet)
    assert report.digital_source_type is not None and declares_ai(report.digital_source_type)
    assert short_name(report.digital_source_type) == "trainedAlgorithmicMedia"
    assert report.description is not None and report.description.startswith("a fox")


@pytest.mark.parametrize(
    "packet",
    [
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>',
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",
        b"no xml here",
    ],
)
def test_bad_xmp_is_an_error_not_a_crash(packet: bytes) -> None:
    report = parse_xmp(packet)
    assert report.present and report.errors and report.digital_source_type is None


def test_xmp_in_a_plain_png_from_another_tool() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", build_xmp(_fields()).decode(), zip=True)
    report = read_labels(hostile.png_bytes(hostile.photo_like(), pnginfo=info))
    assert report.xmp.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.declared_ai == ["XMP DigitalSourceType: trainedAlgorithmicMedia"]
    assert report.c2pa.present is False


# --- containers and hostile input ----------------------------------------------------------


def _text_chunk(kind: bytes, payload: bytes) -> bytes:
    return hostile._chunk(kind, payload)


def test_zip_bomb_text_chunk_is_refused() -> None:
    png = hostile.png_bytes(hostile.photo_like())
    bomb = _text_chunk(b"zTXt", b"parameters\x00\x00" + zlib.compress(b"a" * (MAX_TEXT_BYTES + 10)))
    data = png[:33] + bomb + png[33:]
    report = read_labels(data)
    assert any("expands past" in e for e in report.errors)
    assert report.generators == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: hostile.truncated(hostile.png_bytes(hostile.photo_like())),
        lambda: hostile.truncated(hostile.jpeg_bytes(hostile.photo_like())),
        lambda: b"\x89PNG\r\n\x1a\n" + b"\xff" * 40,
        lambda: b"\xff\xd8\xff\xe1\xff\xff",
        lambda: b"RIFF\x10\x00\x00\x00WEBPVP8X\xff\xff\xff\x7f",
        lambda: b"II*\x00" + b"\x00" * 20,
        lambda: b"GIF89a",
    ],
)
def test_hostile_files_never_raise(make: object) -> None:
    report = read_labels(make())  # type: ignore[operator]
    assert report.c2pa.present is False


def test_png_text_after_the_image_data_is_seen() -> None:
    png = hostile.png_bytes(hostile.photo_like())
    extra = _text_chunk(b"tEXt", b"parameters\x00p\nSteps: 1, Sampler: Euler, Seed: 9")
    data = png[:-12] + extra + png[-12:]
    [meta] = read_labels(data).generators
    assert meta.fields["seed"] == 9


# --- generator metadata --------------------------------------------------------------------


def _png_with(**texts: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    return hostile.png_bytes(hostile.photo_like((64, 64)), pnginfo=info)


def test_comfyui_screenshots_carry_workflow_metadata_without_overclaiming(
    shared_data: Path,
) -> None:
    folder = shared_data / "provenance" / "comfyui_screenshots"
    files = sorted(folder.rglob("*.png"))
    assert len(files) == 3
    for path in files:
        report = read_labels(path.read_bytes(), path)
        [meta] = report.generators
        assert meta.tool == "ComfyUI" and meta.kind == "workflow"
        assert meta.fields["has_prompt_graph"] and meta.fields["has_workflow"]
        assert "KSampler" in meta.fields["node_types"]
        assert meta.fields["image_matches_graph_aspect"] is False
        assert meta.note is not None and "does not by itself show" in meta.note
        assert report.declared_ai == [] and not report.c2pa.present
        assert not any("generated" in key for key in meta.fields)


def test_comfyui_output_with_matching_size_gets_no_screenshot_remark() -> None:
    graph = {"5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64}}}
    [meta] = read_labels(_png_with(prompt=json.dumps(graph))).generators
    assert meta.fields["image_matches_graph_aspect"] is True
    assert meta.note is not None and "screenshot of the editor." not in meta.note


def test_comfyui_in_webp_exif() -> None:
    exif = Image.Exif()
    exif[0x010F] = 'workflow:{"nodes": [{"id": 1}]}'
    exif[0x0110] = 'prompt:{"1": {"class_type": "KSampler", "inputs": {"seed": 5}}}'
    buf = io.BytesIO()
    hostile.photo_like((64, 64)).save(buf, format="WEBP", exif=exif)
    [meta] = read_labels(buf.getvalue()).generators
    assert meta.tool == "ComfyUI" and meta.fields["seeds"] == [5]


def test_invokeai_metadata() -> None:
    meta_json = json.dumps(
        {"positive_prompt": "owl", "seed": 7, "steps": 30, "model": {"name": "sdxl"}}
    )
    [meta] = read_labels(_png_with(invokeai_metadata=meta_json)).generators
    assert meta.tool == "InvokeAI"
    assert meta.fields == {"prompt": "owl", "seed": 7, "steps": 30, "model": "sdxl"}


def test_novelai_metadata() -> None:
    comment = json.dumps({"prompt": "castle", "steps": 28, "scale": 5, "seed": 3, "uc": "bad"})
    data = _png_with(Software="NovelAI", Comment=comment, Source="NovelAI Diffusion V4")
    [meta] = read_labels(data).generators
    assert meta.tool == "NovelAI" and meta.fields["prompt"] == "castle"
    assert meta.fields["negative_prompt"] == "bad" and meta.fields["model"] == (
        "NovelAI Diffusion V4"
    )


def test_midjourney_metadata() -> None:
    data = _png_with(
        Description="a red fox --ar 3:2 Job ID: 0f0e2c4a-1b2c-4d5e-8f90-123456789abc",
        Author="someone",
    )
    [meta] = read_labels(data).generators
    assert meta.tool == "Midjourney"
    assert meta.fields == {
        "prompt": "a red fox --ar 3:2",
        "job_id": "0f0e2c4a-1b2c-4d5e-8f90-123456789abc",
        "author": "someone",
    }


def test_swarmui_metadata() -> None:
    params = {"sui_image_params": {"prompt": "a boat", "seed": 11, "model": "flux"}}
    [meta] = read_labels(_png_with(parameters=json.dumps(params))).generators
    assert meta.tool == "SwarmUI" and meta.fields == {
        "prompt": "a boat",
        "seed": 11,
        "model": "flux",
    }


def test_fooocus_metadata() -> None:
    params = {"prompt": "a tree", "seed": 5, "base_model": "juggernaut", "version": "Fooocus v2.5"}
    [meta] = read_labels(
        _png_with(parameters=json.dumps(params), fooocus_scheme="fooocus")
    ).generators
    assert meta.tool == "Fooocus" and meta.fields["model"] == "juggernaut"


def test_unrecognised_parameters_are_still_reported() -> None:
    [meta] = read_labels(_png_with(parameters="made by hand")).generators
    assert meta.tool == "unknown" and meta.fields == {"text": "made by hand"}


def test_a_plain_photo_has_no_labels() -> None:
    report = read_labels(hostile.jpeg_bytes(hostile.photo_like()), "photo.jpg")
    assert report.format == "JPEG" and report.path == "photo.jpg"
    assert not report.c2pa.present and not report.xmp.present and report.generators == []
    assert report.declared_ai == [] and report.errors == []


def test_reader_registries_name_the_known_readers() -> None:
    assert list_label_readers() == ["c2pa", "xmp", "exif", "generators"]
    assert set(GENERATOR_READERS) == {
        "a1111",
        "comfyui",
        "invokeai",
        "novelai",
        "midjourney",
        "swarmui",
        "fooocus",
    }
    with pytest.raises(ValueError, match="known: a1111, comfyui"):
        get_generator_reader("dalle")
    with pytest.raises(ValueError, match="known: c2pa, xmp, exif, generators"):
        read_labels(b"", readers=["ocr"])


def test_report_is_json_serialisable(shared_data: Path) -> None:
    from synthmark.jsonutil import dumps

    path = shared_data / "provenance" / "c2pa" / "sdk" / "tests" / "fixtures" / "ocsp.jpg"
    obj = json.loads(dumps(read_labels(path.read_bytes(), path)))
    assert {
        "present",
        "validation_state",
        "claim_generator",
        "digital_source_types",
        "errors",
    } <= set(obj["c2pa"])


def test_unreadable_tiff_header_error_names_no_python_object() -> None:
    blocks = extract_blocks(b"II*\x00" + bytes(40))
    assert blocks.errors == ["cannot parse TIFF header: Pillow cannot read it"]


def test_xmp_and_exif_in_a_tiff() -> None:
    buf = io.BytesIO()
    packet = build_xmp(_fields())
    hostile.photo_like((32, 32)).save(buf, format="TIFF", tiffinfo={700: packet, 305: "GIMP"})
    report = read_labels(buf.getvalue())
    assert report.format == "TIFF"
    assert report.xmp.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.exif.software == "GIMP"


def test_stripped_manifest_leaves_only_an_xmp_reference(shared_data: Path) -> None:
    path = shared_data / "provenance" / "c2pa" / "sdk" / "tests" / "fixtures" / "no_manifest.jpg"
    report = read_labels(path.read_bytes(), path)
    assert report.xmp.provenance is not None and "jumbf=/c2pa/" in report.xmp.provenance
    assert report.c2pa.present is False


def test_control_characters_cannot_break_the_xmp() -> None:
    report = parse_xmp(build_xmp(_fields(prompt="bell\x07 and nul\x00 here", ai_system="m\x1b")))
    assert report.errors == []
    assert report.ai_prompt == "bell and nul here" and report.ai_system_used == "m"
