"""Train a detector from folders of real and generated images, card included.

What ``synthmark detect train`` does, as a library call: collect the samples (sources,
near-duplicate groups), load them augmented alike (:class:`~synthmark.detect.data.Augment`,
``copies`` draws per image), fit the :class:`~synthmark.detect.detector.Detector`, and fill
its model card (training data with licences, augmentation, command, time).

>>> plan = TrainingPlan(real=["photos/"], fake=["sd15/"], detector=Detector())  # doctest: +SKIP
>>> det = train(plan)                                                           # doctest: +SKIP
>>> det.save("my-detector")                                                     # doctest: +SKIP
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synthmark.detect.card import DataSource
from synthmark.detect.data import Augment, Sample, TrainingImages, collect
from synthmark.detect.detector import Detector
from synthmark.errors import UsageError

Progress = Callable[[str, int, int], None]


@dataclass
class TrainingPlan:
    """The inputs of one training run."""

    real: Sequence[str | Path]
    fake: Sequence[str | Path]
    detector: Detector
    augment: Augment | None = field(default_factory=Augment)
    copies: int = 1
    seed: int = 0
    licences: dict[str, str] = field(default_factory=dict)
    name: str = "synthmark detector"
    command: str = ""


class _Copies(TrainingImages):
    """``copies`` augmented draws of each sample (copy ``k`` of image ``i`` has its own seed)."""

    def __init__(self, samples: Sequence[Sample], augment: Augment | None, seed: int, copies: int):
        super().__init__(list(samples) * copies, augment, seed)


def training_command(argv: Sequence[str]) -> str:
    """The command line of a training run, for the model card: ``synthmark detect train``
    and, shell-quoted, what followed ``train`` in ``argv`` (the process's ``sys.argv``).

    >>> training_command(["/usr/bin/synthmark", "detect", "train", "--real", "my photos/"])
    "synthmark detect train --real 'my photos/'"
    """
    args = list(argv)
    given = args[args.index("train") + 1 :] if "train" in args else []
    return "synthmark detect train " + " ".join(shlex.quote(a) for a in given)


def parse_licences(items: Sequence[str]) -> dict[str, str]:
    """``SOURCE=TEXT`` items as a mapping; a malformed item is a UsageError."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise UsageError(f"--licence takes SOURCE=TEXT, got {item!r}")
        out[name.strip()] = text.strip()
    return out


def _data_sources(plan: TrainingPlan, samples: Sequence[Sample]) -> list[DataSource]:
    roots = {(Path(p).name or str(p)): str(p) for p in (*plan.real, *plan.fake)}
    counts: dict[str, tuple[str, int]] = {}
    for s in samples:
        label, n = counts.get(s.source, ("generated" if s.label else "real", 0))
        counts[s.source] = (label, n + 1)
    return [
        DataSource(
            name=k, label=v[0], n_images=v[1], path=roots.get(k, ""), licence=plan.licences.get(k)
        )
        for k, v in counts.items()
    ]


def train(plan: TrainingPlan, progress: Progress | None = None) -> Detector:
    """Fit ``plan.detector`` on the plan's folders and fill its card; returns the detector."""
    if plan.copies < 1:
        raise UsageError(f"copies must be >= 1, got {plan.copies}")
    started = time.perf_counter()
    samples = collect(plan.real, plan.fake)
    images = _Copies(samples, plan.augment, plan.seed, plan.copies)
    det = plan.detector
    det.fit(
        images,
        images.labels,
        groups=[s.group for s in images.samples],
        sources=[s.source for s in images.samples],
        progress=progress,
    )
    card = det.card
    card.name = plan.name
    card.training_seconds = time.perf_counter() - started
    card.augmentation = plan.augment.describe() if plan.augment else "none"
    if plan.copies > 1:
        card.augmentation += f"; {plan.copies} augmented copies of each image"
    card.training_command = plan.command
    card.training_data = _data_sources(plan, samples)
    return det


__all__ = ["TrainingPlan", "parse_licences", "train", "training_command"]
