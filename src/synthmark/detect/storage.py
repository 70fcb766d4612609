"""The files of a saved detector: JSON parameters + safetensors arrays, never pickle.

This module handles files only; the detector turns itself into a state and back
(:meth:`~synthmark.detect.detector.Detector._to_state`, ``_from_state``).

A saved detector is a folder:

``detector.json``
    format name and version, the detector's parameters, extractor and head names and
    parameters, ``classes_``, ``threshold_``, calibration, validation metrics and the card;
``detector.safetensors``
    the fitted arrays: ``head.<name>`` and ``extractor.<name>``;
``MODEL_CARD.md``
    the card, for people.

:func:`read_model` accepts the folder or either file in it. Anything that looks like a
pickle (``.pkl``, ``.joblib``, ``.pt``, ``.pth``, ``.ckpt``, ``.bin``, or bytes starting with a
pickle opcode or a zip header as written by ``torch.save``) is refused with
:class:`~synthmark.errors.UnsafeFile` before a byte of it is interpreted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from synthmark.errors import ModelNotFound, UnsafeFile, UsageError
from synthmark.imaging import atomic_write

FORMAT = "synthmark-detector"
FORMAT_VERSION = 1
CONFIG_NAME = "detector.json"
WEIGHTS_NAME = "detector.safetensors"
CARD_NAME = "MODEL_CARD.md"

_PICKLE_SUFFIXES = {
    ".pkl",
    ".pickle",
    ".joblib",
    ".pt",
    ".pth",
    ".ckpt",
    ".bin",
    ".npy",
    ".npz",
    ".sav",
}


def default_model_path() -> Path:
    """Folder of the default detector shipped inside the package."""
    return Path(str(resources.files("synthmark.detect") / "default"))


def looks_pickled(path: Path) -> bool:
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    # Pickle protocol 2+ starts with PROTO (0x80); torch.save and joblib archives are zips.
    return (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5) or head == b"PK\x03\x04"


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    folder = default_model_path() if path is None else Path(path).expanduser()
    if not folder.exists():
        raise ModelNotFound(f"{folder}: no detector there; train one with `synthmark detect train`")
    if folder.is_file():
        if looks_pickled(folder):
            raise UnsafeFile(
                f"{folder}: looks like a pickle; synthmark never unpickles models (it can run "
                "arbitrary code). Save detectors with Detector.save (JSON + safetensors)"
            )
        if folder.name not in (CONFIG_NAME, WEIGHTS_NAME):
            raise UsageError(
                f"{folder}: not a synthmark detector; pass the folder holding "
                f"{CONFIG_NAME} and {WEIGHTS_NAME}"
            )
        folder = folder.parent
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            stray = [p.name for p in folder.iterdir() if p.is_file() and looks_pickled(p)]
            if stray:
                raise UnsafeFile(
                    f"{folder}: holds {', '.join(sorted(stray))} but no {name}; synthmark never "
                    "unpickles models. Save detectors with Detector.save (JSON + safetensors)"
                )
            if path is None:
                raise ModelNotFound(
                    f"the default detector is missing from the package ({folder / name}); "
                    "reinstall synthmark or pass --model"
                )
            raise ModelNotFound(f"{folder}: no {name}; not a saved synthmark detector")
    return folder


def write_model(
    folder: Path, config: dict[str, Any], arrays: dict[str, np.ndarray], card_markdown: str
) -> Path:
    """Write a detector's state into ``folder`` (created if needed): the config with the
    format name and version added, the arrays, and the card for people."""
    from safetensors.numpy import save

    from synthmark.jsonutil import to_jsonable

    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **config}
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write(folder / WEIGHTS_NAME, save(arrays, metadata={"format": FORMAT}))
    atomic_write(folder / CONFIG_NAME, (json.dumps(to_jsonable(config), indent=2) + "\n").encode())
    atomic_write(folder / CARD_NAME, card_markdown.encode())
    return folder


@dataclass
class SavedModel:
    """What :func:`read_model` found: the folder, its config and its named arrays."""

    folder: Path
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]


def read_model(path: str | os.PathLike[str] | None = None) -> SavedModel:
    """Read and check a saved detector's files; ``None`` reads the default model.

    Raises:
        ModelNotFound: nothing at ``path`` (or the packaged model is missing).
        UnsafeFile: ``path`` is, or only offers, a pickle-like file.
        UsageError: the files are not a synthmark detector of a known format version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = _resolve(path)
    try:
        config: dict[str, Any] = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{folder / CONFIG_NAME}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UsageError(
            f"{folder / CONFIG_NAME}: not a synthmark detector (format {config.get('format')!r})"
            if isinstance(config, dict)
            else f"{folder / CONFIG_NAME}: not a synthmark detector"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise UsageError(
            f"{folder}: detector format version {config.get('format_version')!r}; this synthmark "
            f"reads version {FORMAT_VERSION}. Upgrade synthmark or retrain the model"
        )
    try:
        arrays = load_file(str(folder / WEIGHTS_NAME))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(
            f"{folder / WEIGHTS_NAME}: not a readable safetensors file ({exc})"
        ) from None
    return SavedModel(folder, config, arrays)


__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "SavedModel",
    "default_model_path",
    "read_model",
    "write_model",
]
