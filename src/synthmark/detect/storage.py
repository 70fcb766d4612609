"""Saving and loading detectors: JSON parameters + safetensors arrays, never pickle.

A saved detector is a folder:

``detector.json``
    format name and version, the detector's parameters, extractor and head names and
    parameters, ``classes_``, ``threshold_``, calibration, validation metrics and the card;
``detector.safetensors``
    the fitted arrays: ``head.<name>`` and ``extractor.<name>``;
``MODEL_CARD.md``
    the card, for people.

:func:`load_detector` accepts the folder or either file in it. Anything that looks like a
pickle (``.pkl``, ``.joblib``, ``.pt``, ``.pth``, ``.ckpt``, ``.bin``, or bytes starting with a
pickle opcode or a zip header as written by ``torch.save``) is refused with
:class:`~synthmark.errors.UnsafeFile` before a byte of it is interpreted.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthmark.detect.card import ModelCard
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError
from synthmark.imaging import atomic_write

if TYPE_CHECKING:
    from synthmark.detect.detector import Detector

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


def _looks_pickled(path: Path) -> bool:
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
        if _looks_pickled(folder):
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
            stray = [p.name for p in folder.iterdir() if p.is_file() and _looks_pickled(p)]
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


def save_detector(detector: Detector, folder: Path, card: ModelCard) -> Path:
    """Write a fitted detector into ``folder`` (created if needed)."""
    from safetensors.numpy import save

    from synthmark.detect.extractors import extractor_spec
    from synthmark.jsonutil import to_jsonable

    head = detector._fitted("head_")
    extractor = detector._fitted("extractor_")
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for k, v in head.to_arrays().items():
        if k == "classes_":
            continue
        arrays[f"head.{k}"] = np.ascontiguousarray(v)
    for k, v in extractor.state_arrays().items():
        arrays[f"extractor.{k}"] = np.ascontiguousarray(v)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "params": detector.get_params(),
        "extractor": {"spec": extractor_spec(extractor), "params": extractor.get_params()},
        "head": {
            "name": detector.head,
            "params": head.get_params(),
            "classes": [int(c) for c in head.classes_],
        },
        "classes": [str(c) for c in detector.classes_],
        "threshold": float(detector.threshold_),
        "calibration": [float(x) for x in detector.calibration_],
        "n_features": int(detector.n_features_in_),
        "validation": getattr(detector, "validation_", {}),
        "training": getattr(detector, "training_summary_", {}),
        "card": card.to_dict(),
    }
    atomic_write(folder / WEIGHTS_NAME, save(arrays, metadata={"format": FORMAT}))
    atomic_write(folder / CONFIG_NAME, (json.dumps(to_jsonable(config), indent=2) + "\n").encode())
    atomic_write(folder / CARD_NAME, card.to_markdown().encode())
    return folder


def load_detector(path: str | os.PathLike[str] | None = None) -> Detector:
    """Load a saved detector; ``None`` loads the default model shipped in the package.

    Raises:
        ModelNotFound: nothing at ``path`` (or the packaged model is missing).
        UnsafeFile: ``path`` is, or only offers, a pickle-like file.
        UsageError: the files are not a synthmark detector of a known format version.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from synthmark.detect.detector import Detector
    from synthmark.detect.extractors import create_extractor
    from synthmark.detect.heads import head_from_arrays

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
    try:
        det = Detector(**config["params"])
        head_arrays = {k[len("head.") :]: v for k, v in arrays.items() if k.startswith("head.")}
        head_arrays["classes_"] = np.asarray(config["head"]["classes"])
        det.head_ = head_from_arrays(config["head"]["name"], config["head"]["params"], head_arrays)
        ext = create_extractor(config["extractor"]["spec"], config["extractor"]["params"])
        ext.load_state_arrays(
            {k[len("extractor.") :]: v for k, v in arrays.items() if k.startswith("extractor.")}
        )
        det.extractor_ = ext
        det.classes_ = np.asarray(config["classes"])
        det.threshold_ = float(config["threshold"])
        det.calibration_ = np.asarray(config["calibration"], dtype=np.float64)
        det.n_features_in_ = int(config["n_features"])
        det.validation_ = config.get("validation", {})
        det.training_summary_ = config.get("training", {})
        det.card = ModelCard.from_dict(config.get("card", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{folder}: incomplete or inconsistent detector files ({exc!r})") from None
    return det


__all__ = [
    "CARD_NAME",
    "CONFIG_NAME",
    "FORMAT",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "default_model_path",
    "load_detector",
    "save_detector",
]
