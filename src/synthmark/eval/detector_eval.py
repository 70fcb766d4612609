"""Evaluate a detector on any data set, the way the B-Free and DDA protocols do.

1. **Alignment** (on by default): every image, real or fake, is centre-cropped to a square
   of at most ``align_side`` pixels and re-encoded identically (JPEG ``align_quality``), so
   that the numbers do not measure the container (JPEG reals against PNG fakes).
2. **Perturbations** from :mod:`synthmark.attacks`, applied to both classes alike.
3. **Scores** at the model's own threshold, never retuned on the test data.
4. **Metrics** from :mod:`synthmark.metrics` (AUC, AP, balanced accuracy, TPR at 1% and 5%
   FPR, EER, ECE) with bootstrap intervals, overall, per source and per perturbation, and
   the mean and minimum across generated sources.

Features are cached on disk (:mod:`synthmark.eval.feature_cache`), so a second run with
another grid only computes what is new.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthmark.attacks import Attack, get_attack
from synthmark.errors import SynthmarkError, UsageError
from synthmark.eval.datasets import FAKE, REAL, Sample
from synthmark.eval.feature_cache import FeatureCache, extractor_fingerprint
from synthmark.imaging import load_image
from synthmark.metrics import DetectorMetrics, detector_metrics, mean_and_min

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Alignment:
    """Centre crop to a square of at most ``side`` px, then JPEG ``quality``; or nothing."""

    enabled: bool = True
    side: int = 512
    quality: int = 90

    @property
    def key(self) -> str:
        return f"crop{self.side}-jpeg{self.quality}" if self.enabled else "none"

    def __call__(self, image: Image.Image) -> Image.Image:
        if not self.enabled:
            return image
        w, h = image.size
        side = min(w, h, self.side)
        left, top = (w - side) // 2, (h - side) // 2
        cropped = image.crop((left, top, left + side, top + side))
        buf = io.BytesIO()
        cropped.save(buf, format="JPEG", quality=self.quality)
        buf.seek(0)
        out = Image.open(buf)
        out.load()
        return out.convert("RGB")


@dataclass
class EvalResult:
    """Scores and metrics of one evaluation."""

    model: str
    threshold: float
    alignment: str
    perturbations: list[str]
    n_images: int
    skipped: list[dict[str, str]] = field(default_factory=list)
    overall: dict[str, DetectorMetrics] = field(default_factory=dict)
    by_source: dict[str, dict[str, DetectorMetrics]] = field(default_factory=dict)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)
    labels: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0


# -- feature computation, in worker processes -----------------------------------------------

_DETECTOR: Any = None


def _init(model: str | None) -> None:
    global _DETECTOR  # one detector per worker process, loaded once
    from synthmark.detect import Detector

    _DETECTOR = Detector.load(model)


def _features(task: tuple[str, str, list[str], Alignment]) -> tuple[str, dict[str, Any]]:
    """Features of one file under each perturbation, or an error message."""
    path, digest, attacks, alignment = task
    try:
        loaded = load_image(path)
        base = alignment(loaded.image)
        out: dict[str, Any] = {}
        for name in attacks:
            attacked = get_attack(name).apply(base)
            feats = _DETECTOR.features([attacked])[0]
            out[name] = np.asarray(feats.tiles, dtype=np.float32)
        return digest, out
    except SynthmarkError as exc:
        return digest, {"error": str(exc)}


def _compute(
    tasks: list[tuple[str, str, list[str], Alignment]],
    model: str | None,
    workers: int,
    progress: Progress | None,
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    if not tasks:
        return results
    if workers <= 1:
        _init(model)
        for i, task in enumerate(tasks):
            digest, feats = _features(task)
            results[digest] = feats
            if progress:
                progress(i + 1, len(tasks))
        return results
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init, initargs=(model,)
    ) as pool:
        for i, (digest, feats) in enumerate(pool.map(_features, tasks, chunksize=4)):
            results[digest] = feats
            if progress:
                progress(i + 1, len(tasks))
    return results


# -- evaluation --------------------------------------------------------------------------------


@dataclass
class _Features:
    """Each sample's features under each perturbation, and what could not be scored."""

    by_key: dict[tuple[str, str], Any] = field(default_factory=dict)
    digests: list[str | None] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    bad: set[str] = field(default_factory=set)


def _gather_features(
    samples: Sequence[Sample],
    names: list[str],
    alignment: Alignment,
    cache: FeatureCache | None,
    compute: Callable[[list[tuple[str, str, list[str], Alignment]]], dict[str, Any]],
) -> _Features:
    """Features from the cache where they are, computed (``compute``) where not."""
    found = _Features()
    tasks: list[tuple[str, str, list[str], Alignment]] = []
    for sample in samples:
        try:
            data = sample.path.read_bytes()
        except OSError as exc:
            found.skipped.append(
                {"path": str(sample.path), "error": f"cannot read ({exc.strerror})"}
            )
            found.digests.append(None)
            continue
        digest = FeatureCache.digest(data)
        found.digests.append(digest)
        missing = []
        for name in names:
            cached = cache.get(digest, alignment.key, name) if cache else None
            if cached is None:
                missing.append(name)
            else:
                found.by_key[(digest, name)] = cached
        if missing:
            tasks.append((str(sample.path), digest, missing, alignment))
    computed = compute(tasks)
    for path, digest, _, _ in tasks:
        feats = computed[digest]
        if "error" in feats:
            found.skipped.append({"path": path, "error": feats["error"]})
            found.bad.add(digest)
            continue
        for name, value in feats.items():
            found.by_key[(digest, name)] = value
            if cache is not None:
                cache.put(digest, alignment.key, name, value)
    return found


def _score(
    result: EvalResult, detector: Any, name: str, rows: list[Any], n_boot: int
) -> None:
    """Score one perturbation's rows: the overall metrics, per fake source against every
    real image, and the mean and worst over sources."""
    y = np.asarray(result.labels)
    src = np.asarray(result.sources)
    fake_sources = sorted(
        {s for s, lab in zip(result.sources, result.labels, strict=True) if lab == FAKE}
    )
    threshold = result.threshold
    scores = np.asarray(detector.proba_from_features(rows)[:, 1], dtype=np.float64)
    result.scores[name] = scores.round(6).tolist()
    result.overall[name] = detector_metrics(y, scores, threshold, n_boot=n_boot)
    per_source: dict[str, DetectorMetrics] = {}
    for source in fake_sources:
        mask = (y == REAL) | (src == source)
        per_source[source] = detector_metrics(
            y[mask], scores[mask], threshold, n_boot=min(n_boot, 200)
        )
    result.by_source[name] = per_source
    summary: dict[str, float] = {}
    for key in ("auc", "balanced_accuracy", "tpr_at_5pct_fpr"):
        mean, low = mean_and_min([getattr(m, key) for m in per_source.values()])
        summary[f"{key}_mean"], summary[f"{key}_min"] = mean, low
    result.summary[name] = summary


def evaluate_detector(
    samples: Sequence[Sample],
    *,
    model: str | None = None,
    perturbations: Sequence[str] = ("none",),
    alignment: Alignment | None = None,
    cache_dir: Path | None = None,
    workers: int = 1,
    n_boot: int = 1000,
    progress: Progress | None = None,
) -> EvalResult:
    """Score every sample under every perturbation and compute the metrics."""
    from synthmark.detect import Detector, ImageFeatures

    start = time.perf_counter()
    alignment = alignment or Alignment()
    attacks: list[Attack] = [get_attack(p) for p in perturbations]
    names = [a.name for a in attacks]
    if "none" not in names:
        names.insert(0, "none")
    detector = Detector.load(model)
    cache = FeatureCache(cache_dir, extractor_fingerprint(detector)) if cache_dir else None
    found = _gather_features(
        samples, names, alignment, cache, lambda tasks: _compute(tasks, model, workers, progress)
    )
    keep = [i for i, d in enumerate(found.digests) if d is not None and d not in found.bad]
    labels = [samples[i].label for i in keep]
    if set(labels) != {REAL, FAKE}:
        raise UsageError(
            "after skipping unreadable files, evaluation needs real and fake images that decode"
        )
    result = EvalResult(
        model=model or "default (built in)",
        threshold=float(detector.threshold_),
        alignment=alignment.key,
        perturbations=names,
        n_images=len(keep),
        skipped=found.skipped,
        labels=labels,
        sources=[samples[i].source for i in keep],
    )
    for name in names:
        rows = [ImageFeatures(tiles=found.by_key[(str(found.digests[i]), name)]) for i in keep]
        _score(result, detector, name, rows, n_boot)
    if cache is not None:
        result.cache_hits, result.cache_misses = cache.hits, cache.misses
    result.seconds = time.perf_counter() - start
    return result


def metrics_dict(m: DetectorMetrics) -> dict[str, Any]:
    """The JSON shape of one metrics block (the keys the issue names, plus context)."""
    out: dict[str, Any] = {
        "auc": m.auc,
        "ap": m.ap,
        "balanced_accuracy": m.balanced_accuracy,
        "tpr_at_1pct_fpr": m.tpr_at_1pct_fpr,
        "tpr_at_5pct_fpr": m.tpr_at_5pct_fpr,
        "ece": m.ece,
        "eer": m.eer,
        "tpr": m.tpr,
        "fpr": m.fpr,
        "threshold": m.threshold,
        "n_real": m.n_real,
        "n_generated": m.n_generated,
    }
    out["ci95"] = {k: [iv.low, iv.high] for k, iv in m.intervals.items()}
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()
    }


def result_dict(result: EvalResult) -> dict[str, Any]:
    """``metrics.json``: overall, per perturbation and per source."""
    return {
        "model": result.model,
        "threshold": result.threshold,
        "alignment": result.alignment,
        "n_images": result.n_images,
        "n_real": int(sum(1 for v in result.labels if v == REAL)),
        "n_generated": int(sum(1 for v in result.labels if v == FAKE)),
        "skipped": result.skipped,
        "seconds": round(result.seconds, 1),
        "cache": {"hits": result.cache_hits, "misses": result.cache_misses},
        "overall": metrics_dict(result.overall["none"]),
        "per_perturbation": {n: metrics_dict(m) for n, m in result.overall.items()},
        "per_source": {s: metrics_dict(m) for s, m in result.by_source["none"].items()},
        "per_perturbation_per_source": {
            n: {s: metrics_dict(m) for s, m in per.items()} for n, per in result.by_source.items()
        },
        "across_sources": result.summary,
    }


__all__ = ["Alignment", "EvalResult", "evaluate_detector", "metrics_dict", "result_dict"]
