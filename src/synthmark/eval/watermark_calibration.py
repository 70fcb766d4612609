"""Calibration of the Stable Diffusion public-mark readers on unmarked and SD-marked
images (``synthmark watermark bench --calibrate``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from synthmark.attacks import get_attack
from synthmark.eval.watermark_data import bench_images, unmarked_images

__all__ = ["calibrate_public_marks", "format_calibration"]

Progress = Callable[[str], None]


def calibrate_public_marks(
    data_dir: Path, limit: int | None = None, n_marked: int = 40, progress: Progress | None = None
) -> dict[str, Any]:
    """Agreement of the SD public-mark readers on unmarked and on SD-marked images.

    Returns, per mark: the agreement histogram on unmarked images (each image as is,
    cropped and resized), the false positives at the threshold, and the detection rate on
    images marked with that message, clean and after mild attacks.
    """
    from synthmark.watermark.public import PUBLIC_MARKS, PublicMarkScheme, agreements

    say = progress or (lambda _: None)
    hist: dict[str, list[int]] = {name: [] for name in PUBLIC_MARKS}
    for index, (_, image) in enumerate(unmarked_images(data_dir, limit)):
        if image.size[0] * image.size[1] < 256 * 256:
            continue
        for name, (agree, _) in agreements(image).items():
            hist[name].append(agree)
        if (index + 1) % 1000 == 0:
            say(f"public marks: {index + 1} unmarked reads")
    mild = ["none", "jpeg:90", "jpeg:75", "resize:0.75", "crop:0.5"]
    images = bench_images(data_dir, 512, n_marked, seed=11)
    out: dict[str, Any] = {}
    for name, mark in PUBLIC_MARKS.items():
        scheme = PublicMarkScheme(name)
        found = {a: 0 for a in mild}
        for _, image in images:
            marked = scheme.embed(image, b"")
            for a in mild:
                found[a] += scheme.extract(get_attack(a).apply(marked)).present
        values = np.array(hist[name])
        out[name] = {
            "n_bits": mark.n_bits,
            "threshold": mark.threshold,
            "unmarked_reads": len(values),
            "unmarked_max": int(values.max()) if len(values) else None,
            "unmarked_p99": float(np.percentile(values, 99)) if len(values) else None,
            "false_positives": int(np.sum(values >= mark.threshold)),
            "histogram": {
                int(k): int(v) for k, v in zip(*np.unique(values, return_counts=True), strict=True)
            },
            "marked_images": len(images),
            "detected": {a: found[a] / max(len(images), 1) for a in mild},
        }
        say(
            f"{name}: max agreement on unmarked {out[name]['unmarked_max']}/{mark.n_bits}, "
            f"threshold {mark.threshold}"
        )
    return out


def format_calibration(cal: dict[str, Any]) -> str:
    """Markdown table of :func:`calibrate_public_marks`."""
    lines = [
        "| public mark | bits | threshold | max agreement on unmarked | false positives / reads "
        "| detected: " + ", ".join(next(iter(cal.values()))["detected"]) + " |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in cal.items():
        det = ", ".join(f"{100 * v:.0f}%" for v in c["detected"].values())
        lines.append(
            f"| {name} | {c['n_bits']} | {c['threshold']} | {c['unmarked_max']} | "
            f"{c['false_positives']} / {c['unmarked_reads']} | {det} |"
        )
    return "\n".join(lines)
