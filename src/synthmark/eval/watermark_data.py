"""The images of the watermark benchmark: marked ones (centre squares of a data set) and
unmarked ones (every image as is, cropped and resized).

>>> images = bench_images(Path("../shared/data/detector"), 512, 10, seed=0)   # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from synthmark.attacks import get_attack
from synthmark.errors import SynthmarkError, UsageError
from synthmark.imaging import IMAGE_SUFFIXES, load_image

__all__ = [
    "UNMARKED_VARIANTS",
    "Roots",
    "bench_images",
    "image_files",
    "roots",
    "unmarked_images",
]

UNMARKED_VARIANTS = ("none", "crop:0.5", "resize:0.75")

Roots = Path | Sequence[Path]


def roots(data_dir: Roots) -> list[Path]:
    """``data_dir`` as a list of folders."""
    return [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(p) for p in data_dir]


def _label(path: Path, data_dir: Roots) -> str:
    folders = roots(data_dir)
    for root in folders:
        if path.is_relative_to(root):
            rel = str(path.relative_to(root))
            return f"{root.name}/{rel}" if len(folders) > 1 else rel
    return str(path)


def image_files(data_dir: Roots) -> dict[str, list[Path]]:
    """Image files under ``data_dir`` (one folder or several), grouped by top-level folder."""
    folders = roots(data_dir)
    groups: dict[str, list[Path]] = {}
    for root in folders:
        if not root.is_dir():
            raise UsageError(f"benchmark data folder not found: {root}")
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                group = path.relative_to(root).parts[0]
                if len(folders) > 1:
                    group = f"{root.name}/{group}"
                groups.setdefault(group, []).append(path)
    if not groups:
        raise UsageError(f"no images under {', '.join(str(r) for r in folders)}")
    return groups


def _square(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    crop = image.crop((left, top, left + s, top + s))
    return crop if s == size else crop.resize((size, size), Image.Resampling.LANCZOS)


def bench_images(
    data_dir: Roots,
    size: int,
    n: int,
    seed: int,
    prefix: str = "",
    exclude: frozenset[str] = frozenset(),
) -> list[tuple[str, Image.Image]]:
    """``n`` images, round-robin over the folders (real and generated), as squares of
    ``size``; only folders whose name starts with ``prefix``, none labelled in
    ``exclude``."""
    groups = {k: v for k, v in image_files(data_dir).items() if k.startswith(prefix)}
    if not groups:
        raise UsageError(f"no image folder under {data_dir} starts with {prefix!r}")
    rng = random.Random(seed)
    queues = {k: rng.sample(v, len(v)) for k, v in sorted(groups.items())}
    out: list[tuple[str, Image.Image]] = []
    while len(out) < n and any(queues.values()):
        for name in list(queues):
            if queues[name] and len(out) < n:
                path = queues[name].pop()
                label = _label(path, data_dir)
                if label in exclude:
                    continue
                try:
                    image = load_image(path).image
                except SynthmarkError:
                    continue
                out.append((label, _square(image, size)))
    return out


def unmarked_images(data_dir: Roots, limit: int | None) -> Iterator[tuple[str, Image.Image]]:
    """Every image (up to ``limit``) in each of :data:`UNMARKED_VARIANTS`."""
    groups = image_files(data_dir)
    files = [p for k in sorted(groups) for p in groups[k]]
    random.Random(1).shuffle(files)
    for path in files[:limit]:
        try:
            image = load_image(path).image
        except SynthmarkError:
            continue
        for variant in UNMARKED_VARIANTS:
            yield f"{_label(path, data_dir)}|{variant}", get_attack(variant).apply(image)
