"""The watermark benchmark: every scheme against every attack, on real images.

For each scheme and image size it embeds a random payload into ``n_images`` images (centre
square crops of the data set, resized) as ``generate`` does (the scheme's fallback when the
first embedding does not read back; counted), applies each attack from
:mod:`synthmark.attacks`, reads the mark back from the attacked image alone and counts:

* **bit accuracy**: payload bits decoded right (from the decoder's raw bits, whether or
  not the scheme vouches for them);
* **exact**: the scheme reads ``present`` with exactly the embedded payload;
* **detected**: the scheme reads ``present`` (at its own threshold);
* **false positives**: ``present`` on unmarked images (every image of the data set at its
  own size, a centre crop of half its area and a 0.75x resize), and, for keyed schemes, on
  marked images read with another key;
* PSNR and SSIM of the marked image, and the median embed and read times (one thread).

>>> config = BenchConfig(data_dir=Path("../shared/data/detector"))    # doctest: +SKIP
>>> print(format_markdown(run_benchmark(config)))                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthmark.attacks import (
    WATERMARK_STRETCH_ATTACKS,
    WATERMARK_TARGET_ATTACKS,
    center_crop,
    get_attack,
)
from synthmark.errors import SynthmarkError, UsageError, WatermarkError
from synthmark.imaging import IMAGE_SUFFIXES, load_image
from synthmark.watermark import WatermarkScheme, get_scheme
from synthmark.watermark.base import Readout, embed_checked
from synthmark.watermark.ecc import bytes_to_bits
from synthmark.watermark.quality import psnr, ssim

__all__ = [
    "AttackRow",
    "BenchConfig",
    "BenchResult",
    "SchemeSummary",
    "calibrate_public_marks",
    "format_calibration",
    "format_markdown",
    "run_benchmark",
]

DEFAULT_SCHEMES = ("synthmark", "dwtDct", "dwtDctSvd", "rivaGan")
#: the speed targets of the watermark issue at 512 px (4x that at 2048 px)
TARGET_EMBED_MS = 25.0
TARGET_READ_MS = 50.0
UNMARKED_VARIANTS = ("none", "crop:0.5", "resize:0.75")

Progress = Callable[[str], None]


@dataclass
class BenchConfig:
    """What to run. ``n_images`` per size; ``scheme_images`` caps slow schemes."""

    data_dir: Roots
    schemes: Sequence[str] = DEFAULT_SCHEMES
    attacks: Sequence[str] = WATERMARK_TARGET_ATTACKS + WATERMARK_STRETCH_ATTACKS
    sizes: Sequence[int] = (512, 1024)
    n_images: int = 100
    scheme_images: dict[str, int] = field(default_factory=lambda: {"rivaGan": 10})
    scheme_sizes: dict[str, Sequence[int]] = field(default_factory=lambda: {"rivaGan": (512,)})
    unmarked_limit: int | None = None
    scheme_unmarked: dict[str, int] = field(default_factory=lambda: {"rivaGan": 30})
    timing_2048: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [s for s in self.sizes if int(s) < 16]
        if not self.sizes or bad:
            raise UsageError(f"sizes must be at least 16 px, got {list(self.sizes)}")
        if self.n_images < 1:
            raise UsageError(f"the number of images must be at least 1, got {self.n_images}")
        if self.unmarked_limit is not None and self.unmarked_limit < 0:
            raise UsageError(
                f"the unmarked-image limit must be 0 (every image) or more, "
                f"got {self.unmarked_limit}"
            )


def parse_sizes(text: str) -> list[int]:
    """``"512,1024"`` -> ``[512, 1024]``; a :class:`UsageError` names anything else."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--sizes must be comma-separated integers, got {text!r}") from None


@dataclass
class AttackRow:
    """One scheme x size x attack cell."""

    scheme: str
    size: int
    attack: str
    n: int
    bit_accuracy: float
    exact: float
    detected: float


@dataclass
class SchemeSummary:
    """Quality, speed and false positives of one scheme at one size."""

    scheme: str
    size: int
    n: int
    payload_bits: int
    psnr_mean: float
    psnr_min: float
    ssim_mean: float
    ssim_min: float
    #: PSNR over the centred half of the image (the region a 50% crop keeps)
    centre_psnr_mean: float
    centre_psnr_min: float
    embed_ms: float
    read_ms: float
    false_positives: int = 0
    unmarked_reads: int = 0
    wrong_key_positives: int | None = None
    wrong_key_reads: int | None = None
    #: images whose first embedding did not read back and that got a fallback's
    fallbacks: int = 0


@dataclass
class _Cell:
    bits: list[float] = field(default_factory=list)
    exact: int = 0
    detected: int = 0


@dataclass
class BenchResult:
    rows: list[AttackRow]
    summaries: list[SchemeSummary]
    timing_2048: dict[str, dict[str, float]]
    config: dict[str, Any]


Roots = Path | Sequence[Path]


def _roots(data_dir: Roots) -> list[Path]:
    return [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(p) for p in data_dir]


def _label(path: Path, data_dir: Roots) -> str:
    roots = _roots(data_dir)
    for root in roots:
        if path.is_relative_to(root):
            rel = str(path.relative_to(root))
            return f"{root.name}/{rel}" if len(roots) > 1 else rel
    return str(path)


def image_files(data_dir: Roots) -> dict[str, list[Path]]:
    """Image files under ``data_dir`` (one folder or several), grouped by top-level folder."""
    roots = _roots(data_dir)
    groups: dict[str, list[Path]] = {}
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"benchmark data folder not found: {root}")
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                group = path.relative_to(root).parts[0]
                if len(roots) > 1:
                    group = f"{root.name}/{group}"
                groups.setdefault(group, []).append(path)
    if not groups:
        raise UsageError(f"no images under {', '.join(str(r) for r in roots)}")
    return groups


def _square(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    crop = image.crop((left, top, left + s, top + s))
    return crop if s == size else crop.resize((size, size), Image.Resampling.LANCZOS)


def bench_images(data_dir: Roots, size: int, n: int, seed: int) -> list[tuple[str, Image.Image]]:
    """``n`` images, round-robin over the folders (real and generated), as squares of ``size``."""
    groups = image_files(data_dir)
    rng = random.Random(seed)
    queues = {k: rng.sample(v, len(v)) for k, v in sorted(groups.items())}
    out: list[tuple[str, Image.Image]] = []
    while len(out) < n and any(queues.values()):
        for name in list(queues):
            if queues[name] and len(out) < n:
                path = queues[name].pop()
                try:
                    image = load_image(path).image
                except SynthmarkError:
                    continue
                out.append((_label(path, data_dir), _square(image, size)))
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


def _payload_bits_read(scheme: WatermarkScheme, readout: Readout) -> np.ndarray | None:
    """The payload bits the decoder produced, vouched for or not."""
    if readout.payload is not None:
        return bytes_to_bits(readout.payload)[: scheme.payload_bits]
    raw = readout.details.get("unverified_payload")
    if isinstance(raw, str):
        return bytes_to_bits(bytes.fromhex(raw))[: scheme.payload_bits]
    bits = readout.details.get("raw_bits")
    if isinstance(bits, str):
        return np.array([int(c) for c in bits[: scheme.payload_bits]], np.uint8)
    return None


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000.0


def _key(seed: int, label: str) -> bytes:
    return random.Random(f"{seed}-{label}").randbytes(32)


def _as_shipped(
    scheme: WatermarkScheme, image: Image.Image, payload: bytes, marked: Image.Image
) -> tuple[Image.Image, bool]:
    """The marked image ``generate`` and ``watermark embed`` would deliver
    (:func:`~synthmark.watermark.base.embed_checked`, given the scheme's own embedding
    ``marked``), and whether a fallback made it. When no embedding reads back, those commands
    refuse the image; here ``marked`` is kept, so that it counts as a failure after every
    attack."""
    if not scheme.fallbacks():
        return marked, False
    try:
        shipped = embed_checked(scheme, image, payload, marked=marked)
    except WatermarkError:
        return marked, False
    return shipped, shipped is not marked


def run_benchmark(config: BenchConfig, progress: Progress | None = None) -> BenchResult:
    """Run the benchmark (this takes minutes; ``progress`` receives one line per step)."""
    say = progress or (lambda _: None)
    rows: list[AttackRow] = []
    summaries: list[SchemeSummary] = []
    key, other_key = _key(config.seed, "key"), _key(config.seed, "other")
    rng = random.Random(config.seed)
    attacks = [get_attack(a) for a in config.attacks]
    for name in config.schemes:
        scheme = get_scheme(name, key=key)
        wrong = get_scheme(name, key=other_key) if scheme.needs_key else None
        for size in config.scheme_sizes.get(name, config.sizes):
            n = min(config.n_images, config.scheme_images.get(name, config.n_images))
            images = bench_images(config.data_dir, size, n, config.seed)
            say(f"{name} @ {size}: {len(images)} images x {len(attacks)} attacks")
            stats = {a.name: _Cell() for a in attacks}
            psnrs, ssims, centre_psnrs, t_embed, t_read = [], [], [], [], []
            wk_pos = n_fallback = 0
            for index, (_, image) in enumerate(images):
                payload = rng.randbytes(scheme.payload_bytes)
                if scheme.payload_bits % 8:
                    spare = 8 - scheme.payload_bits % 8
                    payload = payload[:-1] + bytes([payload[-1] & (0xFF << spare) & 0xFF])
                marked, ms = _timed(scheme.embed, image, payload)
                t_embed.append(ms)
                marked, fell_back = _as_shipped(scheme, image, payload, marked)
                n_fallback += fell_back
                psnrs.append(psnr(image, marked))
                ssims.append(ssim(image, marked))
                centre_psnrs.append(psnr(center_crop(image, 0.5), center_crop(marked, 0.5)))
                truth = bytes_to_bits(payload)[: scheme.payload_bits]
                for attack in attacks:
                    attacked = attack.apply(marked)
                    readout, ms = _timed(scheme.extract, attacked)
                    t_read.append(ms)
                    cell = stats[attack.name]
                    got = _payload_bits_read(scheme, readout)
                    cell.bits.append(
                        float(np.mean(got == truth)) if got is not None and len(got) else 0.5
                    )
                    cell.detected += readout.present
                    cell.exact += readout.present and readout.payload == payload
                if wrong is not None:
                    wk_pos += wrong.extract(marked).present
                if (index + 1) % 10 == 0:
                    say(f"  {name} @ {size}: {index + 1}/{len(images)}")
            for attack in attacks:
                cell = stats[attack.name]
                rows.append(
                    AttackRow(
                        name,
                        size,
                        attack.name,
                        len(images),
                        float(np.mean(cell.bits)),
                        cell.exact / len(images),
                        cell.detected / len(images),
                    )
                )
            summaries.append(
                SchemeSummary(
                    scheme=name,
                    size=size,
                    n=len(images),
                    payload_bits=scheme.payload_bits,
                    psnr_mean=float(np.mean(psnrs)),
                    psnr_min=float(np.min(psnrs)),
                    ssim_mean=float(np.mean(ssims)),
                    ssim_min=float(np.min(ssims)),
                    centre_psnr_mean=float(np.mean(centre_psnrs)),
                    centre_psnr_min=float(np.min(centre_psnrs)),
                    embed_ms=float(np.median(t_embed)),
                    read_ms=float(np.median(t_read)),
                    wrong_key_positives=wk_pos if wrong is not None else None,
                    wrong_key_reads=len(images) if wrong is not None else None,
                    fallbacks=n_fallback,
                )
            )
        # false positives on unmarked images
        limit = config.scheme_unmarked.get(name, config.unmarked_limit)
        fp = reads = 0
        for _label, image in unmarked_images(config.data_dir, limit):
            if min(image.size) < max(scheme.min_side // 2, 128):
                continue
            try:
                fp += scheme.extract(image).present
            except SynthmarkError:
                continue
            reads += 1
            if reads % 500 == 0:
                say(f"  {name}: {reads} unmarked reads, {fp} false positives")
        for s in summaries:
            if s.scheme == name:
                s.false_positives, s.unmarked_reads = fp, reads
    timing = _timing_2048(config, key, say) if config.timing_2048 else {}
    return BenchResult(rows, summaries, timing, _config_dict(config))


def _timing_2048(config: BenchConfig, key: bytes, say: Progress) -> dict[str, dict[str, float]]:
    """Median embed and read time of synthmark at 512 and 2048 px (same images), reading
    the marked image (which stops at the first valid decode) and the unmarked original
    (which runs every stage of the decoder)."""
    if "synthmark" not in config.schemes:
        return {}
    scheme = get_scheme("synthmark", key=key)
    out: dict[str, dict[str, float]] = {}
    for size in (512, 2048):
        images = bench_images(config.data_dir, size, config.timing_2048, config.seed + 7)
        te, tr, tu = [], [], []
        for _, image in images:
            marked, ms = _timed(scheme.embed, image, bytes(8))
            te.append(ms)
            _, ms = _timed(scheme.extract, marked)
            tr.append(ms)
            _, ms = _timed(scheme.extract, image)
            tu.append(ms)
        out[str(size)] = {
            "embed_ms": float(np.median(te)),
            "read_ms": float(np.median(tr)),
            "read_unmarked_ms": float(np.median(tu)),
        }
        say(f"synthmark timing @ {size}: {out[str(size)]}")
    return out


def _config_dict(config: BenchConfig) -> dict[str, Any]:
    return {
        "data_dir": [str(p) for p in _roots(config.data_dir)],
        "schemes": list(config.schemes),
        "attacks": list(config.attacks),
        "sizes": list(config.sizes),
        "n_images": config.n_images,
        "scheme_images": dict(config.scheme_images),
        "scheme_sizes": {k: list(v) for k, v in config.scheme_sizes.items()},
        "unmarked_variants": list(UNMARKED_VARIANTS),
        "unmarked_limit": config.unmarked_limit,
        "scheme_unmarked": dict(config.scheme_unmarked),
        "seed": config.seed,
        "timing_images": config.timing_2048,
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def format_markdown(result: BenchResult) -> str:
    """The tables: per-attack exact-payload/detection/bit accuracy, then quality and speed."""
    lines: list[str] = []
    keys = sorted(
        {(r.scheme, r.size) for r in result.rows},
        key=lambda t: (list(result.config["schemes"]).index(t[0]), t[1]),
    )
    attacks = list(dict.fromkeys(r.attack for r in result.rows))
    cell = {(r.scheme, r.size, r.attack): r for r in result.rows}
    header = "| attack | " + " | ".join(f"{s} {z}" for s, z in keys) + " |"
    lines.append(
        "Exact payload % / detected % / bit accuracy % (n images per column in the second table)\n"
    )
    lines.append(header)
    lines.append("|---|" + "---|" * len(keys))
    for a in attacks:
        parts = []
        for s, z in keys:
            r = cell.get((s, z, a))
            parts.append(
                ""
                if r is None
                else f"{_pct(r.exact)} / {_pct(r.detected)} / {_pct(r.bit_accuracy)}"
            )
        lines.append(f"| {a} | " + " | ".join(parts) + " |")
    lines.append("")
    lines.append(
        "| scheme | size | n | payload bits | PSNR mean (min) | SSIM mean (min) | "
        "centre-half PSNR mean (min) | embed ms | read ms | false positives / unmarked reads "
        "| wrong-key positives |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for sm in result.summaries:
        wk = (
            "" if sm.wrong_key_reads is None else f"{sm.wrong_key_positives} / {sm.wrong_key_reads}"
        )
        lines.append(
            f"| {sm.scheme} | {sm.size} | {sm.n} | {sm.payload_bits} | {sm.psnr_mean:.2f} "
            f"({sm.psnr_min:.2f}) | {sm.ssim_mean:.4f} ({sm.ssim_min:.4f}) | "
            f"{sm.centre_psnr_mean:.2f} ({sm.centre_psnr_min:.2f}) | {sm.embed_ms:.0f} | "
            f"{sm.read_ms:.0f} | {sm.false_positives} / {sm.unmarked_reads} | {wk} |"
        )
    fell_back = [sm for sm in result.summaries if sm.fallbacks]
    if fell_back:
        lines.append("")
        lines.append(
            "Marked as `generate` delivers them: the first embedding of "
            + ", ".join(
                f"{sm.fallbacks} of {sm.n} images ({sm.scheme} {sm.size})" for sm in fell_back
            )
            + " did not read back and the scheme's fallback was used."
        )
    if result.timing_2048:
        lines.append("")
        t5, t20 = result.timing_2048.get("512"), result.timing_2048.get("2048")
        if t5 and t20:
            lines.append(
                f"synthmark timing, one thread, median of {result.config.get('timing_images')} "
                f"images (read: the marked image / the unmarked original): 512 px embed "
                f"{t5['embed_ms']:.0f} ms (target <= {TARGET_EMBED_MS:.0f}) / read "
                f"{t5['read_ms']:.0f} / {t5['read_unmarked_ms']:.0f} ms (target <= "
                f"{TARGET_READ_MS:.0f}); 2048 px embed {t20['embed_ms']:.0f} ms (target <= "
                f"{4 * TARGET_EMBED_MS:.0f}) / read {t20['read_ms']:.0f} / "
                f"{t20['read_unmarked_ms']:.0f} ms (target <= {4 * TARGET_READ_MS:.0f})"
            )
    return "\n".join(lines)


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
