"""Scoring files: one result per path, with an error instead of a crash for a bad file.

Used by ``synthmark detect predict`` and by anything else that screens files in bulk. A
truncated, hostile or too-small image becomes a :class:`FilePrediction` with ``error`` set,
and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from synthmark.detect.detector import Detector
from synthmark.detect.onnx import OnnxDetector
from synthmark.errors import SynthmarkError
from synthmark.imaging import ImageLimits, error_detail, load_image


@dataclass
class FilePrediction:
    """The detector's answer for one file (``error`` set, the rest ``None``, if it failed)."""

    path: str
    probability: float | None = None
    label: str | None = None
    threshold: float | None = None
    error: str | None = None


def predict_paths(
    detector: Detector | OnnxDetector,
    paths: Iterable[str | Path],
    limits: ImageLimits | None = None,
    batch_size: int = 16,
) -> Iterator[FilePrediction]:
    """Yield one :class:`FilePrediction` per path, in order, in batches of ``batch_size``."""
    batch: list[str] = []

    def score(path: str) -> FilePrediction:
        try:
            image = load_image(path, limits).image
            detector.check_applicable(image)
            p = float(detector.predict_proba([image])[0, 1])
        except SynthmarkError as exc:
            return FilePrediction(path=path, error=error_detail(exc, path))
        except (ValueError, OSError, MemoryError) as exc:
            return FilePrediction(
                path=path, error=f"cannot score ({exc.__class__.__name__}: {exc})"
            )
        label = "generated" if p >= detector.threshold_ else "real"
        return FilePrediction(path=path, probability=p, label=label, threshold=detector.threshold_)

    jobs = max(1, detector.n_jobs)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for raw in paths:
            batch.append(str(raw))
            if len(batch) >= batch_size:
                yield from pool.map(score, batch)
                batch.clear()
        yield from pool.map(score, batch)


__all__ = ["FilePrediction", "predict_paths"]
