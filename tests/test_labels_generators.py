"""Generator metadata (:mod:`synthmark.labels.generators`) and the label readers' registry."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image, PngImagePlugin

from synthmark.labels import read_labels
from tests import hostile


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
