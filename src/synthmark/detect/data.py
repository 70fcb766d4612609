"""Training data without shortcuts: folders to samples, near-duplicate groups, augmentation.

The rules, each against one shortcut named in the data's README:

* **Same processing for both classes.** :class:`Augment` draws, for every image whatever
  its label, a random re-encoding (JPEG q60-100, WebP q60-100, or none), a mild resize and
  a blur, from one distribution. The detector then crops (never resizes) and re-encodes
  every image at its canonical quality (:mod:`synthmark.detect.preprocess`).
* **Balanced classes and sources.** :func:`balanced_weights` gives each class half the total
  weight and, inside a class, each source (input folder) an equal share, so 394 portraits
  do not outvote 33 object photos.
* **No leaks between training and validation.** :func:`assign_groups` puts near twins in
  one group: the same file name in sibling folders (``sd14/x.jpg``, ``sd15/x.jpg``: same
  prompt and seed) and numbered series of one subject (``cat_00`` ... ``cat_04``) when a
  folder holds several such series. Validation folds never split a group.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image, ImageFilter

from synthmark.errors import UsageError
from synthmark.imaging import ImageLimits, expand_inputs, load_image

REAL, GENERATED = 0, 1
CLASS_NAMES = ("real", "generated")

_SERIES = re.compile(r"^(?P<prefix>.+?)[_-]\d+(?:[_-][A-Za-z]+)?$")


@dataclass(frozen=True)
class Sample:
    """One training image: where it is, its label (1 = generated), source and group."""

    path: Path
    label: int
    source: str
    group: str


def collect(real: Iterable[str | Path], fake: Iterable[str | Path]) -> list[Sample]:
    """Samples from folders (or files, globs) of real and generated images.

    The source of an image is the name of the input it came from; its group follows the
    rules of :func:`assign_groups`. Raises :class:`UsageError` when an input is missing or
    a class ends up empty.
    """
    raw: list[tuple[Path, int, str, Path]] = []
    for label, inputs in ((REAL, real), (GENERATED, fake)):
        for inp in inputs:
            root = Path(inp)
            found = 0
            for item in expand_inputs([inp]):
                if item.error:
                    raise UsageError(f"{item.path}: {item.error}")
                raw.append(
                    (
                        item.path,
                        label,
                        root.name or str(root),
                        root if root.is_dir() else item.path.parent,
                    )
                )
                found += 1
            if found == 0:
                raise UsageError(f"{inp}: no images found")
    for label, name in ((REAL, "real"), (GENERATED, "generated")):
        if not any(r[1] == label for r in raw):
            raise UsageError(
                f"no {name} images given; pass --{'real' if label == REAL else 'fake'} DIR"
            )
    groups = assign_groups([(p, root) for p, _, _, root in raw])
    return [Sample(p, lab, src, g) for (p, lab, src, _), g in zip(raw, groups, strict=True)]


def assign_groups(items: Sequence[tuple[Path, Path]]) -> list[str]:
    """Near-duplicate group of each ``(path, input_root)``.

    1. A file's key is its input root plus its stem, ignoring the sub-folders in between, so
       ``drawbench/sd14/Text_3.jpg`` and ``drawbench/sd15/Text_3.jpg`` share a group.
    2. In a folder whose stems form at least two numbered series with two or more files each
       (``cat_00``, ``cat_01``, ``can_00``, ...; a constant word may follow the number, as in
       ``chair_11_real``), the series prefix is the group: shots of one subject stay
       together. A folder that is one long series (``man_unsplash_00001`` ...) keeps one
       group per file.
    3. A stem that is a flattened repository path (``assets__flux__flux1-dev-q8_0``) belongs
       to its repository folder (``assets__flux``) when that folder gave two files or more
       and they form no series (rule 2 then applies within it): files of one folder of a
       repository are often one prompt at several settings.
    """
    units: dict[tuple[Path, str], list[str]] = defaultdict(list)
    for path, _ in items:
        head, last = _split_flat(path.stem)
        units[(path.parent, head)].append(last)
    series: set[tuple[Path, str]] = set()
    for unit, stems in units.items():
        prefixes = Counter(m.group("prefix") for s in stems if (m := _SERIES.match(s)))
        multi = [p for p, n in prefixes.items() if n >= 2]
        if len(multi) >= 2 and len(prefixes) < len(stems):
            series.add(unit)
    out = []
    for path, root in items:
        head, last = _split_flat(path.stem)
        unit = (path.parent, head)
        if unit in series and (m := _SERIES.match(last)):
            key = f"{head}__{m.group('prefix')}" if head else m.group("prefix")
        elif head and len(units[unit]) >= 2:
            key = head
        else:
            key = path.stem
        out.append(f"{root.name or root}/{key}")
    return out


def _split_flat(stem: str) -> tuple[str, str]:
    """(repository folder, file name) of a flattened path ``a__b__name``; ("", stem) if none
    (``Gary_Marcus_et_al__100`` is a DrawBench prompt and its number, not a path)."""
    head, sep, last = stem.rpartition("__")
    if sep and head and any(c.isalpha() for c in last):
        return head, last
    return "", stem


def balanced_weights(
    labels: Sequence[int] | NDArray[Any], sources: Sequence[str]
) -> NDArray[np.float64]:
    """Per-sample weights: each class sums to half, each source inside a class to an equal share.

    The weights average 1 over the samples.
    """
    y = np.asarray(labels)
    src = np.asarray(sources)
    if len(y) != len(src):
        raise UsageError(f"{len(y)} labels but {len(src)} sources")
    w = np.zeros(len(y), dtype=np.float64)
    if len(y) == 0:
        return w
    for label in np.unique(y):
        in_class = y == label
        names = np.unique(src[in_class])
        for s in names:
            m = in_class & (src == s)
            w[m] = 1.0 / (len(names) * m.sum())
    return w * (len(y) / w.sum())


@dataclass(frozen=True)
class Augment:
    """One random processing chain, drawn alike for both classes.

    In order: resize by a factor in ``resize`` (probability ``p_resize``), Gaussian blur of
    sigma in ``blur`` (``p_blur``), then a re-encoding: JPEG with probability ``p_jpeg``,
    WebP with ``p_webp``, none otherwise, at a quality drawn from ``quality``.

    ``p_half`` (default 0: off) halves the image exactly, in place of the mild resize, with
    that probability: a 0.5 resize turns the decoder's 8 px pattern into a 4 px one, which a
    uniform factor in ``resize`` rarely produces. With 0.2 the default model's out-of-fold
    AUC on halved validation images rose from 0.819 to 0.865 (hold-out drop under resize
    12.5 -> 8.0 points), but unresized balanced accuracy fell 2 points and the false-positive
    rate of real photos after JPEG q50 doubled (8.9% -> 16.4%), so it is not the default.
    """

    p_jpeg: float = 0.45
    p_webp: float = 0.2
    quality: tuple[int, int] = (60, 100)
    p_resize: float = 0.2
    resize: tuple[float, float] = (0.5, 1.0)
    p_blur: float = 0.1
    blur: tuple[float, float] = (0.2, 1.0)
    p_half: float = 0.0

    def __post_init__(self) -> None:
        probs = (self.p_jpeg, self.p_webp, self.p_resize, self.p_blur, self.p_half)
        if any(not 0.0 <= p <= 1.0 for p in probs) or self.p_jpeg + self.p_webp > 1.0:
            raise UsageError(f"augmentation probabilities must lie in [0, 1], got {probs}")
        lo, hi = self.quality
        if not 1 <= lo <= hi <= 100:
            raise UsageError(
                f"quality range must satisfy 1 <= low <= high <= 100, got {self.quality}"
            )
        if not 0.0 < self.resize[0] <= self.resize[1] or not 0.0 <= self.blur[0] <= self.blur[1]:
            raise UsageError(f"bad resize {self.resize} or blur {self.blur} range")

    @classmethod
    def none(cls) -> Augment:
        """No augmentation at all."""
        return cls(p_jpeg=0.0, p_webp=0.0, p_resize=0.0, p_blur=0.0)

    def describe(self) -> str:
        """One line for the model card."""
        half = f"resize x0.5 (p={self.p_half:g}) or " if self.p_half > 0 else ""
        return (
            f"{half}resize x{self.resize[0]:g}-{self.resize[1]:g} (p={self.p_resize:g}), "
            f"Gaussian blur sigma {self.blur[0]:g}-{self.blur[1]:g} (p={self.p_blur:g}), then "
            f"JPEG (p={self.p_jpeg:g}) or WebP (p={self.p_webp:g}) at quality "
            f"{self.quality[0]}-{self.quality[1]}, or no re-encoding"
        )

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = image
        # No draw when p_half is 0, so the default chain's random stream is unchanged.
        half = self.p_half > 0 and rng.random() < self.p_half
        mild = rng.random() < self.p_resize
        if half or mild:
            f = 0.5 if half else float(rng.uniform(*self.resize))
            w, h = out.size
            out = out.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC)
        if rng.random() < self.p_blur:
            out = out.filter(ImageFilter.GaussianBlur(float(rng.uniform(*self.blur))))
        r = rng.random()
        q = int(rng.integers(self.quality[0], self.quality[1] + 1))
        if r < self.p_jpeg:
            out = _roundtrip(out, "JPEG", q)
        elif r < self.p_jpeg + self.p_webp:
            out = _roundtrip(out, "WEBP", q)
        return out


def _roundtrip(image: Image.Image, fmt: str, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format=fmt, quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")


class TrainingImages(Sequence[Image.Image]):
    """The images of ``samples``, decoded safely and augmented, loaded one at a time.

    Each index has its own random stream (``seed``, index), so the same index always gives
    the same augmented image, and memory holds one image at a time, not the data set.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        augment: Augment | None = None,
        seed: int = 0,
        limits: ImageLimits | None = None,
    ) -> None:
        self.samples = list(samples)
        self.augment = augment
        self.seed = seed
        self.limits = limits

    def __len__(self) -> int:
        return len(self.samples)

    @overload
    def __getitem__(self, index: int) -> Image.Image: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Image.Image]: ...

    def __getitem__(self, index: int | slice) -> Image.Image | Sequence[Image.Image]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        sample = self.samples[index]
        image = load_image(sample.path, self.limits).image
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, index])
            image = self.augment(image, rng)
        return image

    @property
    def labels(self) -> NDArray[np.int_]:
        """0 = real, 1 = generated."""
        return np.asarray([s.label for s in self.samples], dtype=np.int_)


def encode_labels(labels: ArrayLike) -> NDArray[np.int_]:
    """0/1 labels (1 = generated) from ``"real"``/``"generated"`` strings or 0/1."""
    raw = np.asarray(labels)
    if raw.ndim != 1:
        raise UsageError(f"labels must be 1-D, got shape {raw.shape}")
    if raw.dtype.kind in "USO":
        lookup = {"real": 0, "generated": 1, "fake": 1}
        bad = sorted({str(v) for v in raw.tolist() if str(v).lower() not in lookup})
        if bad:
            raise UsageError(f"unknown labels {bad[:5]}; use 'real'/'generated' or 0/1")
        return np.asarray([lookup[str(v).lower()] for v in raw.tolist()], dtype=np.int_)
    values = set(np.unique(raw).tolist())
    if not values <= {0, 1}:
        raise UsageError(f"labels must be 0 (real) / 1 (generated), got {sorted(values)[:5]}")
    return raw.astype(np.int_)



T = TypeVar("T")


def map_images(
    fn: Callable[[Image.Image], T],
    images: Sequence[Image.Image],
    jobs: int,
    progress: Callable[[str, int, int], None] | None = None,
    what: str = "features",
) -> list[T]:
    """``fn`` of each image, in order, on ``jobs`` threads, reporting ``progress``."""
    n = len(images)
    out: list[T] = []
    if jobs == 1 or n < 2:
        for i in range(n):
            out.append(fn(images[i]))
            if progress:
                progress(what, i + 1, n)
        return out
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, res in enumerate(pool.map(lambda k: fn(images[k]), range(n))):
            out.append(res)
            if progress:
                progress(what, i + 1, n)
    return out


class Lazy(Sequence[Image.Image]):
    """``fn`` applied to each image when it is read (a preprocessing step, say)."""

    def __init__(
        self, images: Sequence[Image.Image], fn: Callable[[Image.Image], Image.Image]
    ) -> None:
        self.images, self.fn = images, fn

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: Any) -> Any:
        return self.fn(self.images[i])


class Subset(Sequence[Image.Image]):
    """The images of ``base`` at positions ``idx``."""

    def __init__(self, base: Sequence[Image.Image], idx: NDArray[np.int_]) -> None:
        self.base, self.idx = base, [int(i) for i in idx]

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        return self.base[self.idx[i]]


__all__ = [
    "CLASS_NAMES",
    "GENERATED",
    "REAL",
    "Augment",
    "Lazy",
    "Sample",
    "Subset",
    "TrainingImages",
    "assign_groups",
    "balanced_weights",
    "collect",
    "encode_labels",
    "map_images",
]
