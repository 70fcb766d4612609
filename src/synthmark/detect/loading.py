"""Load a detector by path: a saved folder (JSON + safetensors) or an exported ONNX file."""

from __future__ import annotations

import os
from pathlib import Path

from synthmark.detect.detector import Detector
from synthmark.detect.onnx import OnnxDetector


def load_detector(path: str | os.PathLike[str] | None = None) -> Detector | OnnxDetector:
    """Load a saved detector; ``None`` loads the default model shipped in the package.

    A path ending in ``.onnx`` is run through onnxruntime (:class:`OnnxDetector`); anything
    else is a folder written by :meth:`Detector.save`, or a file in it.

    Raises:
        ModelNotFound: nothing at ``path`` (or the packaged model is missing).
        UnsafeFile: ``path`` is, or only offers, a pickle-like file.
        UsageError: the files are not a synthmark detector of a known format version, or an
            ONNX graph with other inputs.
    """
    if path is not None and Path(path).suffix.lower() == ".onnx":
        return OnnxDetector(Path(path))
    return Detector.load(path)


__all__ = ["load_detector"]
