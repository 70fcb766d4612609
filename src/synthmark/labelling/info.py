"""What made an image (:class:`GenerationInfo`), and what labelling gave (:class:`LabelResult`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from synthmark.errors import UsageError
from synthmark.labels.a1111 import rewrite_parameters
from synthmark.labels.generators import GeneratorMetadata

#: Fields of GenerationInfo, under AUTOMATIC1111's names in ``parameters``.
_NAMED = ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed")
#: Generator metadata that holds no parameters of the picture's generation.
_NOT_PARAMETERS = ("width", "height", "text", "has_prompt_graph", "has_workflow", "node_types",
                   "latent_sizes", "image_size", "image_matches_graph_aspect")


@dataclass(frozen=True)
class GenerationInfo:
    """The model and the generation parameters of one image, as any generator reports them.

    ``model`` is required: a label names the system that made the picture. ``software`` is
    the generating program (``"AUTOMATIC1111"``, ``"ComfyUI"``, ``"diffusers 0.31
    StableDiffusionPipeline"``); ``pipeline`` goes to the registry. ``extra`` holds any
    other parameter under AUTOMATIC1111's snake_case names (``clip_skip``, ``size``, ...).

    >>> info = GenerationInfo(model="sdxl-base-1.0", seed=42, steps=30, prompt="a red fox")
    >>> info.parameters()["seed"]
    42
    >>> synthmark.label(image, info, "out/fox.png", provider="Acme")   # doctest: +SKIP
    """

    model: str
    model_hash: str | None = None
    software: str | None = None
    pipeline: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The AUTOMATIC1111-style parameters text the file came with, if any: written back as
    #: it was (labels, order and quoting kept), with the serial appended.
    infotext: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise UsageError("the model must be named (GenerationInfo.model), got nothing")

    def parameters(self) -> dict[str, Any]:
        """The parameters in AUTOMATIC1111's vocabulary; the prompts are here, the labeller
        and the registry keep them only on opt-in."""
        params: dict[str, Any] = {k: v for k, v in self.extra.items() if v is not None}
        for name in _NAMED:
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        params["model"] = self.model
        if self.model_hash:
            params["model_hash"] = self.model_hash[:10]
        return params

    @property
    def software_agent(self) -> str:
        """The C2PA action's software agent: the model, and the program when known."""
        return f"{self.model} ({self.software})" if self.software else self.model

    def with_model(self, model: str | None) -> GenerationInfo:
        """A copy naming ``model`` instead (None: unchanged)."""
        if model is None:
            return self
        infotext = self.infotext
        if infotext is not None:
            infotext = rewrite_parameters(infotext, {"Model": model, "Model hash": None})
        return replace(self, model=model, model_hash=None, infotext=infotext)

    @classmethod
    def from_metadata(cls, found: Sequence[GeneratorMetadata]) -> GenerationInfo | None:
        """The info a file's generator metadata gives (A1111/Forge, InvokeAI, NovelAI,
        SwarmUI, Fooocus parameters first, then a ComfyUI graph); None when nothing found
        names the model."""
        ranked = [m for m in found if m.kind == "parameters" and m.tool != "unknown"]
        ranked += [m for m in found if m.tool == "ComfyUI"]
        for meta in ranked:
            info = _from_fields(meta)
            if info is not None:
                return info
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    """A number as the file wrote it: ``7`` stays an integer, ``7.5`` a float."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value))
    except ValueError:
        pass
    try:
        return float(str(value))
    except ValueError:
        return None


def _first(values: Any) -> Any:
    return values[0] if isinstance(values, list) and values else None


def _from_fields(meta: GeneratorMetadata) -> GenerationInfo | None:
    fields = dict(meta.fields)
    if meta.tool == "ComfyUI":
        models = fields.get("models") or []
        sampler = _first(fields.get("samplers")) or {}
        fields = {
            "model": _first(models),
            "seed": _first(fields.get("seeds")),
            "prompt": _first(fields.get("prompts")),
            "steps": sampler.get("steps"),
            "cfg_scale": sampler.get("cfg"),
            "sampler": sampler.get("sampler_name"),
            "scheduler": sampler.get("scheduler"),
            "models": ", ".join(map(str, models)) if len(models) > 1 else None,
        }
    model = fields.pop("model", None)
    if not isinstance(model, str) or not model.strip():
        return None
    version = fields.get("version") or fields.get("app_version")
    named = {name: fields.pop(name, None) for name in _NAMED}
    extra = {k: v for k, v in fields.items() if k not in _NOT_PARAMETERS and v is not None}
    return GenerationInfo(
        model=model.strip(),
        model_hash=str(extra.pop("model_hash")) if extra.get("model_hash") else None,
        software=f"{meta.tool} {version}" if version else meta.tool,
        pipeline=meta.tool,
        prompt=str(named["prompt"]) if named["prompt"] else None,
        negative_prompt=str(named["negative_prompt"]) if named["negative_prompt"] else None,
        seed=_int(named["seed"]),
        steps=_int(named["steps"]),
        sampler=str(named["sampler"]) if named["sampler"] else None,
        cfg_scale=_number(named["cfg_scale"]),
        extra=extra,
    )


@dataclass
class LabelResult:
    """One labelled image: where it went and how it can be traced.

    ``soft_binding`` is the manifest's ``c2pa.soft-binding`` (``alg`` and ``value``), what a
    Soft Binding Resolution API resolves; ``parent_manifest_id`` the manifest the file came
    with, kept as ingredient; ``notes`` what of the source could not be kept, and why.
    ``stages`` are seconds per step (``mark_check`` for a file, ``watermark``, ``encode``,
    ``labels``, ``registry_and_write``). ``image`` is the marked picture as it was encoded
    (what an integration hands back to its caller; not in ``repr`` or JSON).
    """

    path: Path
    serial: int
    manifest_id: str
    sha256: str
    format: str
    width: int
    height: int
    model: str
    watermark_scheme: str
    soft_binding: dict[str, str]
    created: str
    source: str | None = None
    parent_manifest_id: str | None = None
    notes: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    image: Image.Image | None = field(default=None, repr=False, compare=False)


__all__ = ["GenerationInfo", "LabelResult"]
