"""Metadata that image generators leave in their files, one small reader per tool.

Each reader looks for its tool's own chunks and reports what is there, nothing more.
Generator metadata is a claim written by software (or copied from another file): a
ComfyUI graph also rides along in a screenshot of the node editor, and A1111 parameters
can be pasted into any PNG. So a :class:`GeneratorMetadata` says which tool's metadata
was found and what it holds; it never says the pixels were generated.

Readers register by name in :data:`GENERATOR_READERS`; :func:`get_generator_reader`
raises ``ValueError`` listing the known names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthmark.labels.a1111 import parse_parameters
from synthmark.labels.containers import MetadataBlocks
from synthmark.labels.exif import ExifReport
from synthmark.labels.xmp import XmpReport
from synthmark.names import NameRegistry

#: Longest raw text kept in a report for metadata no reader understood.
MAX_RAW_CHARS = 2000


@dataclass
class GeneratorMetadata:
    """One generator's metadata found in a file."""

    tool: str
    kind: str
    where: str
    fields: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass
class MetadataSources:
    """Everything a generator reader may look at."""

    blocks: MetadataBlocks
    exif: ExifReport
    xmp: XmpReport


GeneratorReader = Callable[[MetadataSources], list[GeneratorMetadata]]

#: The readers, by name, run in this order.
GENERATOR_READERS: NameRegistry[GeneratorReader] = NameRegistry("generator reader")


def _json_object(text: str | None) -> dict[str, Any] | None:
    if not text or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _parameters(tool: str, where: str, fields: dict[str, Any]) -> GeneratorMetadata:
    """A tool's generation parameters found ``where``, without the fields it left empty."""
    kept = {k: v for k, v in fields.items() if v is not None}
    return GeneratorMetadata(tool=tool, kind="parameters", where=where, fields=kept)


def _where(blocks: MetadataBlocks, key: str) -> str:
    for entry in blocks.texts:
        if entry.key == key:
            return f"{entry.where} '{key}'"
    return key


@GENERATOR_READERS.register("a1111")
def read_a1111(src: MetadataSources) -> list[GeneratorMetadata]:
    """AUTOMATIC1111 / Forge / SD.Next infotext: PNG ``parameters`` or EXIF UserComment."""
    found = []
    candidates = [(src.blocks.text("parameters"), _where(src.blocks, "parameters"))]
    candidates.append((src.exif.user_comment, "EXIF UserComment"))
    for text, where in candidates:
        parsed = parse_parameters(text) if text else None
        if parsed is not None:
            found.append(
                GeneratorMetadata(
                    tool=parsed.tool, kind="parameters", where=where, fields=parsed.normalised()
                )
            )
    return found


def comfyui_summary(graph: dict[str, Any]) -> dict[str, Any]:
    """Facts from a ComfyUI API-format prompt graph (node id -> {class_type, inputs}): node
    types, models, seeds, prompts, sampler settings and latent sizes."""
    classes: list[str] = []
    checkpoints: list[str] = []
    seeds: list[Any] = []
    texts: list[str] = []
    latent_sizes: list[list[int]] = []
    samplers: list[dict[str, Any]] = []
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        kind = str(node.get("class_type", ""))
        raw_inputs = node.get("inputs")
        inputs: dict[str, Any] = raw_inputs if isinstance(raw_inputs, dict) else {}
        if kind and kind not in classes:
            classes.append(kind)
        for key in ("ckpt_name", "unet_name", "lora_name"):
            if isinstance(inputs.get(key), str) and inputs[key] not in checkpoints:
                checkpoints.append(inputs[key])
        for key in ("seed", "noise_seed"):
            if isinstance(inputs.get(key), int):
                seeds.append(inputs[key])
        if kind.startswith("CLIPTextEncode"):
            for key in ("text", "text_g", "text_l"):
                if isinstance(inputs.get(key), str) and inputs[key]:
                    texts.append(inputs[key])
        if "Sampler" in kind:
            settings = {
                key: inputs[key]
                for key in ("steps", "cfg", "sampler_name", "scheduler", "denoise")
                if isinstance(inputs.get(key), (int, float, str))
            }
            if settings:
                samplers.append(settings)
        if kind.startswith("Empty") and "Latent" in kind:
            w, h = inputs.get("width"), inputs.get("height")
            if isinstance(w, int) and isinstance(h, int):
                latent_sizes.append([w, h])
    return {
        "nodes": len(graph),
        "node_types": classes,
        "models": checkpoints,
        "seeds": seeds,
        "prompts": texts,
        "samplers": samplers,
        "latent_sizes": latent_sizes,
    }


def _same_aspect(size: tuple[int, int], other: list[int]) -> bool:
    w, h = size
    ow, oh = other
    return h > 0 and oh > 0 and abs((w / h) / (ow / oh) - 1.0) < 0.02


@GENERATOR_READERS.register("comfyui")
def read_comfyui(src: MetadataSources) -> list[GeneratorMetadata]:
    """ComfyUI's ``prompt`` (API graph) and ``workflow`` (editor graph) JSON.

    In PNG they are text chunks; ComfyUI's WebP saver puts them in EXIF Make/Model as
    ``workflow:{...}`` / ``prompt:{...}``.
    """
    prompt_text = src.blocks.text("prompt")
    workflow_text = src.blocks.text("workflow")
    where = []
    if prompt_text is not None or workflow_text is not None:
        where = [_where(src.blocks, k) for k in ("prompt", "workflow") if src.blocks.text(k)]
    for value in (src.exif.make, src.exif.model):
        if value and value.startswith("prompt:"):
            prompt_text, where = value[len("prompt:") :], [*where, "EXIF prompt:"]
        elif value and value.startswith("workflow:"):
            workflow_text, where = value[len("workflow:") :], [*where, "EXIF workflow:"]
    prompt = _json_object(prompt_text)
    workflow = _json_object(workflow_text)
    if prompt is None and workflow is None:
        return []
    fields: dict[str, Any] = {"has_prompt_graph": prompt is not None}
    fields["has_workflow"] = workflow is not None
    if prompt is not None:
        fields.update(comfyui_summary(prompt))
    elif workflow is not None and isinstance(workflow.get("nodes"), list):
        fields["nodes"] = len(workflow["nodes"])
    note = (
        "ComfyUI graph metadata: it records a workflow, and is also carried by screenshots "
        "and re-saves of the node editor; it does not by itself show that these pixels "
        "were generated."
    )
    size = src.blocks.size
    latent_sizes = fields.get("latent_sizes") or []
    if size is not None and latent_sizes:
        matches = any(_same_aspect(size, s) for s in latent_sizes)
        fields["image_size"] = list(size)
        fields["image_matches_graph_aspect"] = matches
        if not matches:
            note += (
                f" The image is {size[0]}x{size[1]}, an aspect ratio unlike every latent "
                "size in the graph, as with a screenshot of the editor."
            )
    return [
        GeneratorMetadata(
            tool="ComfyUI", kind="workflow", where=", ".join(where), fields=fields, note=note
        )
    ]


@GENERATOR_READERS.register("invokeai")
def read_invokeai(src: MetadataSources) -> list[GeneratorMetadata]:
    """InvokeAI: ``invokeai_metadata`` / ``invokeai_graph`` (v3+), ``sd-metadata``, ``Dream``."""
    meta = _json_object(src.blocks.text("invokeai_metadata"))
    if meta is not None:
        model = meta.get("model")
        fields = {
            "prompt": meta.get("positive_prompt"),
            "negative_prompt": meta.get("negative_prompt"),
            "seed": meta.get("seed"),
            "steps": meta.get("steps"),
            "cfg_scale": meta.get("cfg_scale"),
            "scheduler": meta.get("scheduler"),
            "width": meta.get("width"),
            "height": meta.get("height"),
            "model": model.get("name") if isinstance(model, dict) else model,
            "generation_mode": meta.get("generation_mode"),
        }
        return [_parameters("InvokeAI", _where(src.blocks, "invokeai_metadata"), fields)]
    legacy = _json_object(src.blocks.text("sd-metadata"))
    if legacy is not None:
        raw_image = legacy.get("image")
        image: dict[str, Any] = raw_image if isinstance(raw_image, dict) else {}
        prompt = image.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
            prompt = prompt[0].get("prompt")
        fields = {
            "prompt": prompt,
            "seed": image.get("seed"),
            "steps": image.get("steps"),
            "cfg_scale": image.get("cfg_scale"),
            "sampler": image.get("sampler"),
            "model": legacy.get("model_weights"),
            "app_version": legacy.get("app_version"),
        }
        return [_parameters("InvokeAI", _where(src.blocks, "sd-metadata"), fields)]
    for key in ("invokeai_graph", "invokeai_workflow", "Dream"):
        text = src.blocks.text(key)
        if text:
            return [
                GeneratorMetadata(
                    tool="InvokeAI",
                    kind="workflow" if key != "Dream" else "parameters",
                    where=_where(src.blocks, key),
                    fields={"text": text[:MAX_RAW_CHARS]} if key == "Dream" else {},
                )
            ]
    return []


@GENERATOR_READERS.register("novelai")
def read_novelai(src: MetadataSources) -> list[GeneratorMetadata]:
    """NovelAI: ``Software: NovelAI`` with a JSON ``Comment`` (and ``Description``, ``Source``).

    NovelAI's "stealth" copy of the metadata in the alpha channel's low bits is not read:
    that would need the pixels, and the PNG text chunks hold the same data.
    """
    software = src.blocks.text("Software") or src.exif.software or ""
    if "novelai" not in software.lower():
        return []
    comment = _json_object(src.blocks.text("Comment")) or {}
    fields = {
        "prompt": comment.get("prompt") or src.blocks.text("Description"),
        "negative_prompt": comment.get("uc"),
        "steps": comment.get("steps"),
        "cfg_scale": comment.get("scale"),
        "seed": comment.get("seed"),
        "sampler": comment.get("sampler"),
        "width": comment.get("width"),
        "height": comment.get("height"),
        "model": src.blocks.text("Source"),
    }
    return [
        _parameters(
            "NovelAI",
            _where(src.blocks, "Comment") if comment else _where(src.blocks, "Software"),
            fields,
        )
    ]


_JOB_ID = re.compile(r"Job ID:\s*([0-9a-fA-F-]{36})")


@GENERATOR_READERS.register("midjourney")
def read_midjourney(src: MetadataSources) -> list[GeneratorMetadata]:
    """Midjourney: a ``Description`` (PNG text, XMP or EXIF) ending in ``Job ID: <uuid>``."""
    candidates = [
        (src.blocks.text("Description"), _where(src.blocks, "Description")),
        (src.xmp.description, "XMP dc:description"),
        (src.exif.image_description, "EXIF ImageDescription"),
    ]
    for text, where in candidates:
        match = _JOB_ID.search(text or "")
        if text and match:
            fields: dict[str, Any] = {
                "prompt": text[: match.start()].strip(),
                "job_id": match.group(1),
            }
            author = src.blocks.text("Author") or src.exif.artist
            if author:
                fields["author"] = author
            return [GeneratorMetadata("Midjourney", "parameters", where, fields)]
    tool = " ".join(filter(None, [src.xmp.creator_tool, src.exif.software]))
    if "midjourney" in tool.lower():
        return [GeneratorMetadata("Midjourney", "metadata", "software name", {"software": tool})]
    return []


@GENERATOR_READERS.register("swarmui")
def read_swarmui(src: MetadataSources) -> list[GeneratorMetadata]:
    """SwarmUI: JSON ``parameters`` (or EXIF UserComment) with ``sui_image_params``."""
    for text, where in (
        (src.blocks.text("parameters"), _where(src.blocks, "parameters")),
        (src.exif.user_comment, "EXIF UserComment"),
    ):
        data = _json_object(text)
        params = data.get("sui_image_params") if data else None
        if isinstance(params, dict):
            fields = {
                "prompt": params.get("prompt"),
                "negative_prompt": params.get("negativeprompt"),
                "model": params.get("model"),
                "seed": params.get("seed"),
                "steps": params.get("steps"),
                "cfg_scale": params.get("cfgscale"),
                "width": params.get("width"),
                "height": params.get("height"),
                "version": params.get("swarm_version"),
            }
            return [_parameters("SwarmUI", where, fields)]
    return []


@GENERATOR_READERS.register("fooocus")
def read_fooocus(src: MetadataSources) -> list[GeneratorMetadata]:
    """Fooocus in its own JSON scheme (``fooocus_scheme`` chunk or a Fooocus ``version``).

    Fooocus's A1111 scheme is reported by the A1111 reader (``Version: Fooocus ...``).
    """
    for text, where in (
        (src.blocks.text("parameters"), _where(src.blocks, "parameters")),
        (src.exif.user_comment, "EXIF UserComment"),
    ):
        data = _json_object(text)
        if data is None:
            continue
        version = str(data.get("version", ""))
        if not (version.startswith("Fooocus") or src.blocks.text("fooocus_scheme") == "fooocus"):
            continue
        fields = {
            "prompt": data.get("prompt"),
            "negative_prompt": data.get("negative_prompt"),
            "model": data.get("base_model"),
            "seed": data.get("seed"),
            "steps": data.get("steps"),
            "cfg_scale": data.get("guidance_scale"),
            "sampler": data.get("sampler"),
            "resolution": data.get("resolution"),
            "version": version or None,
        }
        return [_parameters("Fooocus", where, fields)]
    return []


def get_generator_reader(name: str) -> GeneratorReader:
    """The reader registered as ``name``; ``ValueError`` lists the known names."""
    return GENERATOR_READERS[name]


def read_generator_metadata(
    src: MetadataSources, names: list[str] | None = None
) -> list[GeneratorMetadata]:
    """Run the named readers (all by default); a ``parameters`` text nobody understood is
    still reported, as tool ``unknown``, so that nothing in the file goes unmentioned."""
    found: list[GeneratorMetadata] = []
    for name in names or GENERATOR_READERS.names():
        found.extend(get_generator_reader(name)(src))
    text = src.blocks.text("parameters")
    where = _where(src.blocks, "parameters")
    if text and not any(item.where == where for item in found):
        found.append(
            GeneratorMetadata(
                tool="unknown",
                kind="parameters",
                where=where,
                fields={"text": text[:MAX_RAW_CHARS]},
                note="a 'parameters' text that no known generator format matches",
            )
        )
    return found


__all__ = [
    "GENERATOR_READERS",
    "GeneratorMetadata",
    "GeneratorReader",
    "MetadataSources",
    "comfyui_summary",
    "get_generator_reader",
    "read_generator_metadata",
]
