"""The watermark benchmark: every scheme against every attack, on real images.

For each scheme and image size it embeds a random payload into ``n_images`` images (centre
square crops of the data set, resized) as ``generate`` does (the scheme's fallback when the
first embedding does not read back; counted), applies each attack from
:mod:`synthmark.attacks`, reads the mark back from the attacked image alone and counts:

* **bit accuracy**: payload bits decoded right (from the decoder's raw bits, whether or
  not the scheme vouches for them);
* **exact**: the scheme reads ``present`` with exactly the embedded payload;
* **detected**: the scheme reads ``present`` (at its own threshold);
* **bound** (synthmark): exact, and the content matches the marked picture's registered
  description (:mod:`synthmark.watermark.attribution`), so the read is ``bound``;
* **PSNR cost**: the attacked image against the marked one, where the size is unchanged;
* **false positives**: ``present`` on unmarked images (every image of the data set at its
  own size, a centre crop of half its area and a 0.75x resize), and, for keyed schemes, on
  marked images read with another key;
* PSNR and SSIM of the marked image, and the median embed and read times (one thread).

The security attacks (forging the mark onto photos, removing it by averaging, regenerating
the image) are :mod:`synthmark.eval.watermark_security`; the tables are
:mod:`synthmark.eval.watermark_tables`.

>>> config = BenchConfig(data_dir="../shared/data/detector")    # doctest: +SKIP
>>> print(format_markdown(run_benchmark(config)))                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from synthmark.attacks import (
    WATERMARK_GEOMETRY_ATTACKS,
    WATERMARK_STRETCH_ATTACKS,
    WATERMARK_TARGET_ATTACKS,
    Attack,
    center_crop,
    get_attack,
)
from synthmark.errors import SynthmarkError, UsageError, WatermarkError
from synthmark.eval.watermark_data import (
    UNMARKED_VARIANTS,
    Roots,
    bench_images,
    roots,
    unmarked_images,
)
from synthmark.eval.watermark_security import (
    SecurityConfig,
    SecurityRow,
    SecurityRun,
    attribution_of,
)
from synthmark.watermark import WatermarkScheme, get_scheme
from synthmark.watermark.attribution import describe_content
from synthmark.watermark.base import Readout, embed_checked
from synthmark.watermark.ecc import bytes_to_bits
from synthmark.watermark.quality import psnr, ssim

__all__ = [
    "AttackRow",
    "BenchConfig",
    "BenchResult",
    "SchemeSummary",
    "parse_sizes",
    "run_benchmark",
]

DEFAULT_SCHEMES = ("synthmark", "dwtDct", "dwtDctSvd", "rivaGan")
#: the speed targets of the watermark issue at 512 px (4x that at 2048 px)
TARGET_EMBED_MS = 25.0
TARGET_READ_MS = 50.0
DEFAULT_ATTACKS = WATERMARK_TARGET_ATTACKS + WATERMARK_STRETCH_ATTACKS + WATERMARK_GEOMETRY_ATTACKS

Progress = Callable[[str], None]


@dataclass
class BenchConfig:
    """What to run. ``n_images`` per size; ``scheme_images`` caps slow schemes; ``security``
    (synthmark only; None: skip) the copy, averaging and regeneration attacks."""

    data_dir: Roots
    schemes: Sequence[str] = DEFAULT_SCHEMES
    attacks: Sequence[str] = DEFAULT_ATTACKS
    sizes: Sequence[int] = (512, 1024)
    n_images: int = 100
    scheme_images: dict[str, int] = field(default_factory=lambda: {"rivaGan": 10})
    scheme_sizes: dict[str, Sequence[int]] = field(default_factory=lambda: {"rivaGan": (512,)})
    unmarked_limit: int | None = None
    scheme_unmarked: dict[str, int] = field(default_factory=lambda: {"rivaGan": 30})
    timing_2048: int = 5
    seed: int = 0
    security: SecurityConfig | None = None

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
    #: exact and ``bound`` to the marked picture (synthmark; None for other schemes)
    bound: float | None = None
    #: mean PSNR of the attacked image against the marked one (None: the size changed)
    psnr_cost: float | None = None


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
    bound: int = 0
    psnrs: list[float] = field(default_factory=list)


@dataclass
class BenchResult:
    rows: list[AttackRow]
    summaries: list[SchemeSummary]
    timing_2048: dict[str, dict[str, float]]
    config: dict[str, Any]
    security: list[SecurityRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


def _random_payload(scheme: WatermarkScheme, rng: random.Random) -> bytes:
    payload = rng.randbytes(scheme.payload_bytes)
    if scheme.payload_bits % 8:
        spare = 8 - scheme.payload_bits % 8
        payload = payload[:-1] + bytes([payload[-1] & (0xFF << spare) & 0xFF])
    return payload


@dataclass
class _SizeRun:
    """The measurements of one scheme at one size, image by image."""

    scheme: WatermarkScheme
    wrong: WatermarkScheme | None
    attacks: list[Attack]
    cells: dict[str, _Cell] = field(default_factory=dict)
    psnrs: list[float] = field(default_factory=list)
    ssims: list[float] = field(default_factory=list)
    centre_psnrs: list[float] = field(default_factory=list)
    t_embed: list[float] = field(default_factory=list)
    t_read: list[float] = field(default_factory=list)
    wrong_positives: int = 0
    fallbacks: int = 0

    def __post_init__(self) -> None:
        self.cells = {a.name: _Cell() for a in self.attacks}

    def measure(
        self, image: Image.Image, payload: bytes, security: SecurityRun | None
    ) -> None:
        """Mark ``image`` with ``payload`` and read it back after every attack."""
        scheme = self.scheme
        marked, ms = _timed(scheme.embed, image, payload)
        self.t_embed.append(ms)
        marked, fell_back = _as_shipped(scheme, image, payload, marked)
        self.fallbacks += fell_back
        self.psnrs.append(psnr(image, marked))
        self.ssims.append(ssim(image, marked))
        self.centre_psnrs.append(psnr(center_crop(image, 0.5), center_crop(marked, 0.5)))
        truth = bytes_to_bits(payload)[: scheme.payload_bits]
        # what generate registers with our mark: each read's attribution is checked on it
        description = describe_content(marked) if self.scheme.name == "synthmark" else None
        for attack in self.attacks:
            attacked = attack.apply(marked)
            readout, ms = _timed(scheme.extract, attacked)
            self.t_read.append(ms)
            cell = self.cells[attack.name]
            got = _payload_bits_read(scheme, readout)
            cell.bits.append(float(np.mean(got == truth)) if got is not None and len(got) else 0.5)
            cell.detected += readout.present
            exact = readout.present and readout.payload == payload
            cell.exact += exact
            if exact and description is not None:
                cell.bound += attribution_of(attacked, readout, description) == "bound"
            if attacked.size == marked.size:
                cell.psnrs.append(psnr(marked, attacked))
        if self.wrong is not None:
            self.wrong_positives += self.wrong.extract(marked).present
        if security is not None:
            security.observe(marked, payload, description)

    def rows(self, name: str, size: int, n: int, keyed_bound: bool) -> list[AttackRow]:
        out = []
        for attack in self.attacks:
            cell = self.cells[attack.name]
            out.append(
                AttackRow(
                    name,
                    size,
                    attack.name,
                    n,
                    float(np.mean(cell.bits)),
                    cell.exact / n,
                    cell.detected / n,
                    cell.bound / n if keyed_bound else None,
                    float(np.mean(np.minimum(cell.psnrs, 99.0))) if cell.psnrs else None,
                )
            )
        return out

    def summary(self, name: str, size: int, n: int) -> SchemeSummary:
        return SchemeSummary(
            scheme=name,
            size=size,
            n=n,
            payload_bits=self.scheme.payload_bits,
            psnr_mean=float(np.mean(self.psnrs)),
            psnr_min=float(np.min(self.psnrs)),
            ssim_mean=float(np.mean(self.ssims)),
            ssim_min=float(np.min(self.ssims)),
            centre_psnr_mean=float(np.mean(self.centre_psnrs)),
            centre_psnr_min=float(np.min(self.centre_psnrs)),
            embed_ms=float(np.median(self.t_embed)),
            read_ms=float(np.median(self.t_read)) if self.t_read else 0.0,
            wrong_key_positives=self.wrong_positives if self.wrong is not None else None,
            wrong_key_reads=n if self.wrong is not None else None,
            fallbacks=self.fallbacks,
        )


def _usable_attacks(config: BenchConfig, notes: list[str]) -> list[Attack]:
    """The configured attacks; ``regen`` left out, with a note, when its weights are
    missing."""
    out = []
    for name in config.attacks:
        attack = get_attack(name)
        if attack.kind == "regen" and not getattr(attack.fn, "available", True):
            notes.append(f"regen skipped: no TAEF2 weights at {getattr(attack.fn, 'folder', '?')}")
            continue
        out.append(attack)
    return out


def _false_positives(
    config: BenchConfig, name: str, scheme: WatermarkScheme, say: Progress
) -> tuple[int, int]:
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
    return fp, reads


def run_benchmark(config: BenchConfig, progress: Progress | None = None) -> BenchResult:
    """Run the benchmark (this takes minutes; ``progress`` receives one line per step)."""
    say = progress or (lambda _: None)
    result = BenchResult([], [], {}, _config_dict(config))
    key, other_key = _key(config.seed, "key"), _key(config.seed, "other")
    rng = random.Random(config.seed)
    attacks = _usable_attacks(config, result.notes)
    for name in config.schemes:
        scheme = get_scheme(name, key=key)
        wrong = get_scheme(name, key=other_key) if scheme.needs_key else None
        keyed = name == "synthmark"
        for size in config.scheme_sizes.get(name, config.sizes):
            n = min(config.n_images, config.scheme_images.get(name, config.n_images))
            images = bench_images(config.data_dir, size, n, config.seed)
            say(f"{name} @ {size}: {len(images)} images x {len(attacks)} attacks")
            security = None
            if keyed and config.security is not None:
                security = SecurityRun(config.security, scheme, config.data_dir, size, images, say)
                # the pool's payloads come from their own generator: the benchmark's images
                # get the same payloads with or without the security attacks
                pool_rng = random.Random(f"{config.seed}-pool-{size}")
                security.prepare(partial(_random_payload, scheme, pool_rng))
            run = _SizeRun(scheme, wrong, attacks)
            for index, (_, image) in enumerate(images):
                run.measure(image, _random_payload(scheme, rng), security)
                if (index + 1) % 10 == 0:
                    say(f"  {name} @ {size}: {index + 1}/{len(images)}")
            result.rows.extend(run.rows(name, size, len(images), keyed))
            result.summaries.append(run.summary(name, size, len(images)))
            if security is not None:
                result.security.extend(security.rows())
                result.notes.extend(security.notes)
        fp, reads = _false_positives(config, name, scheme, say)
        for s in result.summaries:
            if s.scheme == name:
                s.false_positives, s.unmarked_reads = fp, reads
    result.timing_2048 = _timing_2048(config, key, say) if config.timing_2048 else {}
    return result


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
        "data_dir": [str(p) for p in roots(config.data_dir)],
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
        "security": None if config.security is None else config.security.to_dict(),
    }

