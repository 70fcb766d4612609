"""AUTOMATIC1111's ``parameters`` text ("infotext"), written and parsed.

The format, as the web UI writes it (``modules/processing.py``) and reads it back
(``modules/infotext_utils.py``)::

    a cat on a sofa
    Negative prompt: blurry
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: v1-5

The last line holds ``Key: value`` pairs; a value holding a comma, colon or newline is
JSON-quoted. Everything before ``Negative prompt:`` is the prompt. Forge, SD.Next and
Fooocus (in its A1111 scheme) write the same format and name themselves in ``Version``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Our parameter names (snake_case) -> the labels the web UI writes, in its order.
LABELS: dict[str, str] = {
    "steps": "Steps",
    "sampler": "Sampler",
    "scheduler": "Schedule type",
    "cfg_scale": "CFG scale",
    "seed": "Seed",
    "size": "Size",
    "model_hash": "Model hash",
    "model": "Model",
    "vae": "VAE",
    "denoising_strength": "Denoising strength",
    "clip_skip": "Clip skip",
    "version": "Version",
}
_PROMPT_KEYS = ("prompt", "negative_prompt")
_SKIP_KEYS = (*_PROMPT_KEYS, "width", "height")

# The web UI's own pattern for one "Key: value" pair of the last line.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")


@dataclass
class A1111Parameters:
    """A parsed infotext: prompt, negative prompt and the ``Key: value`` fields."""

    prompt: str
    negative_prompt: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def tool(self) -> str:
        """Which web UI wrote it, from its ``Version`` / ``App`` fields."""
        version = self.fields.get("Version", "")
        app = self.fields.get("App", "")
        if app.lower().replace(".", "") == "sdnext":
            return "SD.Next"
        if version.startswith("Fooocus"):
            return "Fooocus"
        if re.match(r"^f\d", version):
            return "Forge"
        return "AUTOMATIC1111"

    def normalised(self) -> dict[str, Any]:
        """The fields under our snake_case names, numbers as numbers where they parse."""
        out: dict[str, Any] = {}
        if self.prompt:
            out["prompt"] = self.prompt
        if self.negative_prompt:
            out["negative_prompt"] = self.negative_prompt
        by_label = {label: name for name, label in LABELS.items()}
        for label, value in self.fields.items():
            name = by_label.get(label) or label.strip().lower().replace(" ", "_")
            out[name] = _number(value) if name in ("steps", "seed", "cfg_scale") else value
        size = _SIZE.match(self.fields.get("Size", ""))
        if size:
            out["width"], out["height"] = int(size.group(1)), int(size.group(2))
        return out


def _number(value: str) -> int | float | str:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _quote(value: str) -> str:
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return loaded if isinstance(loaded, str) else value
    return value


def _label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def format_parameters(parameters: Mapping[str, Any], include_prompt: bool = True) -> str:
    """The infotext of ``parameters`` (snake_case keys, as in :data:`LABELS`).

    ``size`` may be ``"512x512"`` or a ``(width, height)`` pair; ``width`` and ``height``
    also make one. With ``include_prompt=False`` the prompt and negative prompt lines are
    left out and the text is the parameters line alone, which the web UI still reads.
    """
    params = dict(parameters)
    if "size" not in params and "width" in params and "height" in params:
        params["size"] = (params["width"], params["height"])
    size = params.get("size")
    if isinstance(size, (tuple, list)) and len(size) == 2:
        params["size"] = f"{int(size[0])}x{int(size[1])}"
    ordered = [name for name in LABELS if name in params]
    ordered += [name for name in params if name not in LABELS and name not in _SKIP_KEYS]
    pairs = []
    for name in ordered:
        value = params[name]
        if value is None or name in _SKIP_KEYS:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        pairs.append(f"{_label(name)}: {_quote(text)}")
    lines = []
    if include_prompt:
        lines.append(str(params.get("prompt") or ""))
        if params.get("negative_prompt"):
            lines.append(f"Negative prompt: {params['negative_prompt']}")
    lines.append(", ".join(pairs))
    return "\n".join(lines)


def parse_parameters(text: str) -> A1111Parameters | None:
    """Parse an infotext; None when ``text`` does not look like one.

    A text looks like one when its last line holds at least three ``Key: value`` pairs
    and one of them is ``Steps`` (the web UI always writes it).
    """
    lines = text.strip().split("\n")
    last = lines[-1] if lines else ""
    pairs = _PARAM.findall(last)
    if len(pairs) < 3:
        return None
    fields = {key.strip(): _unquote(value.strip()) for key, value in pairs}
    if "Steps" not in fields:
        return None
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    return A1111Parameters(
        prompt="\n".join(prompt_lines).strip(),
        negative_prompt="\n".join(negative_lines).strip(),
        fields=fields,
    )


def rewrite_parameters(
    text: str, updates: Mapping[str, str | None], include_prompt: bool = True
) -> str:
    """Another tool's infotext written back as it was, with ``updates`` applied to its last
    line (``{"Model": "x"}`` sets or appends a field, ``{"Model hash": None}`` removes one).

    Labels, order and quoting of the other fields stay as they were; without
    ``include_prompt`` the prompt lines are left out. Raises ``ValueError`` when ``text``
    is not an infotext.
    """
    parsed = parse_parameters(text)
    if parsed is None:
        raise ValueError("not an AUTOMATIC1111 parameters text")
    fields = dict(parsed.fields)
    for label, value in updates.items():
        if value is None:
            fields.pop(label, None)
        else:
            fields[label] = value
    lines = []
    if include_prompt:
        lines.append(parsed.prompt)
        if parsed.negative_prompt:
            lines.append(f"Negative prompt: {parsed.negative_prompt}")
    lines.append(", ".join(f"{label}: {_quote(value)}" for label, value in fields.items()))
    return "\n".join(lines)


__all__ = [
    "LABELS",
    "A1111Parameters",
    "format_parameters",
    "parse_parameters",
    "rewrite_parameters",
]
