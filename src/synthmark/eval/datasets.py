"""Data-set layouts for detector evaluation, read into one list of labelled samples.

Supported layouts:

* **plain folders**: ``--real DIR`` and ``--fake DIR``; the source of a file is its first
  sub-folder under the given folder (or the folder's own name when files sit at its top);
* **GenImage**: a folder holding ``ai/`` and ``nature/`` (possibly below ``train/`` or
  ``val/``); the source is the generator folder above them;
* **CNNDetection**: ``0_real/`` and ``1_fake/`` folders, the source being the class folder
  above them (``progan/car/0_real`` gives source ``progan/car``);
* **a CSV manifest** with columns ``path``, ``label`` (``real``/``fake``, ``0``/``1``,
  ``generated``) and optionally ``source``; relative paths are relative to the CSV file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from synthmark.errors import UsageError
from synthmark.imaging import IMAGE_SUFFIXES

REAL, FAKE = 0, 1
_REAL_NAMES = {"0", "real", "nature", "0_real", "photo", "authentic"}
_FAKE_NAMES = {"1", "fake", "ai", "1_fake", "generated", "synthetic"}


@dataclass(frozen=True)
class Sample:
    """One image of an evaluation set."""

    path: Path
    label: int
    source: str


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _source_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else root.name


def parse_label(value: str, where: str) -> int:
    """``real``/``0``/``nature`` -> 0, ``fake``/``1``/``ai``/``generated`` -> 1."""
    text = value.strip().lower()
    if text in _REAL_NAMES:
        return REAL
    if text in _FAKE_NAMES:
        return FAKE
    raise UsageError(
        f"{where}: label {value!r} is neither real (real, 0, nature) nor fake "
        f"(fake, 1, ai, generated)"
    )


def _structured(root: Path) -> list[Sample] | None:
    """GenImage or CNNDetection samples under ``root``, or None if neither layout is there."""
    samples: list[Sample] = []
    for class_dir in sorted(root.rglob("*")):
        if not class_dir.is_dir():
            continue
        name = class_dir.name.lower()
        if name in ("ai", "nature", "0_real", "1_fake"):
            label = FAKE if name in ("ai", "1_fake") else REAL
            parent = class_dir.parent
            if parent.name.lower() in ("train", "val", "test"):
                parent = parent.parent
            rel = parent.relative_to(root) if parent != root else Path(root.name)
            source = rel.as_posix() if str(rel) != "." else root.name
            samples.extend(Sample(p, label, source) for p in _images(class_dir))
    return samples or None


def from_folders(real: Iterable[str | Path], fake: Iterable[str | Path]) -> list[Sample]:
    """Samples from plain ``--real``/``--fake`` folders (or structured layouts given as either)."""
    samples: list[Sample] = []
    for label, folders in ((REAL, real), (FAKE, fake)):
        for folder in folders:
            root = Path(folder)
            if not root.is_dir():
                raise UsageError(f"{root}: not a folder")
            files = _images(root)
            if not files:
                raise UsageError(
                    f"{root}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            samples.extend(Sample(p, label, _source_of(p, root)) for p in files)
    return samples


def from_csv(manifest: str | Path) -> list[Sample]:
    """Samples from a CSV manifest with ``path``, ``label`` and optional ``source`` columns."""
    manifest = Path(manifest)
    try:
        rows = list(csv.DictReader(manifest.read_text(encoding="utf-8").splitlines()))
    except FileNotFoundError:
        raise UsageError(f"manifest {manifest} does not exist") from None
    if not rows or "path" not in rows[0] or "label" not in rows[0]:
        raise UsageError(f"{manifest}: a CSV manifest needs 'path' and 'label' columns")
    samples = []
    for number, row in enumerate(rows, start=2):
        where = f"{manifest}:{number}"
        path = Path(row["path"])
        if not path.is_absolute():
            path = manifest.parent / path
        source = (row.get("source") or "").strip() or "all"
        samples.append(Sample(path, parse_label(row["label"], where), source))
    return samples


def discover(
    real: Iterable[str | Path] = (),
    fake: Iterable[str | Path] = (),
    data: Iterable[str | Path] = (),
) -> list[Sample]:
    """All samples from ``--real``/``--fake`` folders and ``--data`` roots or CSV manifests.

    A ``--data`` entry is a CSV manifest, or a folder in the GenImage or CNNDetection layout.
    Raises :class:`UsageError` when nothing is found, or when a class is missing.
    """
    samples = from_folders(real, fake)
    for entry in data:
        path = Path(entry)
        if path.is_file() and path.suffix.lower() == ".csv":
            samples.extend(from_csv(path))
        elif path.is_dir():
            found = _structured(path)
            if found is None:
                raise UsageError(
                    f"{path}: neither GenImage (ai/, nature/) nor CNNDetection "
                    f"(0_real/, 1_fake/) layout; use --real/--fake for plain folders"
                )
            samples.extend(found)
        else:
            raise UsageError(f"{path}: not a CSV manifest or a folder")
    if not samples:
        raise UsageError("no images given: pass --real and --fake folders, or --data")
    labels = {s.label for s in samples}
    if labels != {REAL, FAKE}:
        missing = "real" if REAL not in labels else "fake"
        raise UsageError(f"no {missing} images found: evaluation needs both classes")
    return samples


def thin(samples: list[Sample], limit: int) -> list[Sample]:
    """At most ``limit`` samples per (label, source), evenly spaced, in their order."""
    groups: dict[tuple[int, str], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.label, s.source), []).append(s)
    out: list[Sample] = []
    for members in groups.values():
        if len(members) <= limit:
            out.extend(members)
        else:
            step = len(members) / limit
            out.extend(members[int(i * step)] for i in range(limit))
    return out


__all__ = ["FAKE", "REAL", "Sample", "discover", "from_csv", "from_folders", "parse_label", "thin"]
