"""Load a detector by path or name: a saved folder (JSON + safetensors), an exported ONNX
file, or a model shipped in the package (:data:`PACKAGED`)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from synthmark.detect.detector import Detector
from synthmark.detect.onnx import OnnxDetector

#: Models shipped in the package, by name: ``default`` (v2: MobileNetV2 early layers, needs
#: the pinned backbone weights) and ``grid-v1`` (the weight-free grid + co-occurrence
#: detector it replaced, for SD 1.x/2.x decoder fingerprints; no download).
PACKAGED = {"default": "default", "grid-v1": "grid_v1"}


def packaged_model_path(name: str) -> Path:
    """Folder of a model shipped in the package."""
    return Path(str(resources.files("synthmark.detect") / PACKAGED[name]))


def load_detector(path: str | os.PathLike[str] | None = None) -> Detector | OnnxDetector:
    """Load a saved detector; ``None`` loads the default model shipped in the package.

    A name in :data:`PACKAGED` (``grid-v1``) that is not also an existing path loads that
    packaged model. A path ending in ``.onnx`` is run through onnxruntime
    (:class:`OnnxDetector`); anything else is a folder written by :meth:`Detector.save`, or
    a file in it.

    >>> detector = load_detector()                                  # doctest: +SKIP
    >>> p = detector.predict_proba([load_image("upload.jpg").image])[0, 1]  # doctest: +SKIP
    >>> p >= detector.threshold_                                    # doctest: +SKIP
    True

    Raises:
        ModelNotFound: nothing at ``path`` (or the packaged model is missing).
        UnsafeFile: ``path`` is, or only offers, a pickle-like file.
        UsageError: the files are not a synthmark detector of a known format version, or an
            ONNX graph with other inputs.
    """
    path = model_path(path)
    if path is not None and Path(path).suffix.lower() == ".onnx":
        return OnnxDetector(Path(path))
    return Detector.load(path)


def model_path(path: str | os.PathLike[str] | None) -> Path | None:
    """``path`` itself, or the packaged model it names (when no such path exists)."""
    if path is not None and str(path) in PACKAGED and not Path(path).exists():
        return packaged_model_path(str(path))
    return None if path is None else Path(path)


__all__ = ["PACKAGED", "load_detector", "model_path", "packaged_model_path"]
