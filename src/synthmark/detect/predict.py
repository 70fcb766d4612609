"""Scoring files: one result per path, with an error instead of a crash for a bad file.

Used by ``synthmark detect predict`` and by anything else that screens files in bulk. A
truncated or hostile file becomes a :class:`FilePrediction` with ``error`` set, an image the
detector does not apply to (too small, flat) one with ``abstained`` set, and the batch goes
on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from synthmark.detect.detector import Detector
from synthmark.detect.onnx import OnnxDetector
from synthmark.errors import ImageTooSmall, OutsideDomain, SynthmarkError
from synthmark.imaging import ImageLimits, error_detail, load_image

#: Labels of a scored file, in ``synthmark screen``'s words: the detector alone never makes
#: an image ``synthetic``, and a low score does not make it real.
ABOVE_THRESHOLD = "likely_synthetic"
BELOW_THRESHOLD = "no_evidence"
ABSTAINED = "abstained"


@dataclass
class FilePrediction:
    """The detector's answer for one file: a probability and a label (``likely_synthetic``
    at or above the threshold, else ``no_evidence``); or the label ``abstained`` with the
    reason in ``abstained`` for an image outside the detector's domain (flat graphics, too
    small); or ``error`` set, the rest ``None``, for a file that could not be read."""

    path: str
    probability: float | None = None
    label: str | None = None
    threshold: float | None = None
    error: str | None = None
    abstained: str | None = None


@contextmanager
def _one_torch_thread_each(jobs: int, uses_torch: bool) -> Iterator[None]:
    """With several worker threads, torch's own thread pool is held to one thread (then
    restored): ``jobs`` threads each asking for every core would fight for them (on a busy
    2-core machine a 320 px tile took 1.4 s with 2 torch threads against 38 ms with one)."""
    if jobs <= 1 or not uses_torch:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        except (ImageTooSmall, OutsideDomain) as exc:  # as screen: the detector does not apply
            return FilePrediction(path=path, label=ABSTAINED, abstained=str(exc))
        except SynthmarkError as exc:
            return FilePrediction(path=path, error=error_detail(exc, path))
        except (ValueError, OSError, MemoryError) as exc:
            return FilePrediction(
                path=path, error=f"cannot score ({exc.__class__.__name__}: {exc})"
            )
        label = ABOVE_THRESHOLD if p >= detector.threshold_ else BELOW_THRESHOLD
        return FilePrediction(path=path, probability=p, label=label, threshold=detector.threshold_)

    jobs = max(1, detector.n_jobs)
    uses_torch = not isinstance(detector, OnnxDetector)
    with _one_torch_thread_each(jobs, uses_torch), ThreadPoolExecutor(jobs) as pool:
        for raw in paths:
            batch.append(str(raw))
            if len(batch) >= batch_size:
                yield from pool.map(score, batch)
                batch.clear()
        yield from pool.map(score, batch)


__all__ = ["ABOVE_THRESHOLD", "ABSTAINED", "BELOW_THRESHOLD", "FilePrediction", "predict_paths"]
