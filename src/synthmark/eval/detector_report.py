"""The detector evaluation report: ``report.md``, ``metrics.json`` and PNG plots.

``report.md`` opens with one summary table a person reads at a glance (each perturbation:
AUC, balanced accuracy at the model's own threshold, TPR at fixed FPR, ECE), then the
per-source table, the mean and minimum across sources, and what was skipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from synthmark.eval.datasets import FAKE, REAL
from synthmark.eval.detector_eval import EvalResult, result_dict
from synthmark.imaging import atomic_write
from synthmark.jsonutil import to_jsonable


def _f(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _ci(m: Any, key: str) -> str:
    value = getattr(m, key)
    iv = m.intervals.get(key)
    return f"{_f(value)} [{_f(iv.low)}, {_f(iv.high)}]" if iv else _f(value)


def _perturbation_figure(result: EvalResult) -> Any:
    """Accuracy against perturbation strength: one panel per family with two or more
    strengths, one bar panel for the rest. At least 6.4 in wide, so that the title fits
    however few panels there are."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result.perturbations
    families: dict[str, list[tuple[float, str]]] = {}
    for name in names:
        kind, _, raw = name.partition(":")
        if raw:
            families.setdefault(kind, []).append((float(raw), name))
    families = {k: sorted(v) for k, v in families.items() if len(v) >= 2}
    panels = len(families) + 1
    fig, axes = plt.subplots(1, panels, figsize=(max(3.2 * panels, 6.4), 3.4), squeeze=False)
    for ax, (kind, points) in zip(axes[0], families.items(), strict=False):
        xs = [p for p, _ in points]
        ax.plot(xs, [result.overall[n].balanced_accuracy for _, n in points], "o-",
                label="balanced acc.")
        ax.plot(xs, [result.overall[n].auc for _, n in points], "s--", label="AUC")
        ax.axhline(result.overall["none"].balanced_accuracy, color="grey", lw=0.8, ls=":")
        unit = {"jpeg": "quality", "webp": "quality", "resize": "scale", "crop": "area kept",
                "blur": "sigma (px)", "noise": "sigma (0-255)"}.get(kind, "parameter")
        ax.set(title=kind, xlabel=unit, ylim=(0, 1))
        if kind in ("jpeg", "webp", "resize", "crop"):
            ax.invert_xaxis()  # left to right: milder to harsher
    others = [n for n in names if not any(n == m for v in families.values() for _, m in v)]
    ax = axes[0][-1]
    positions = np.arange(len(others))
    ax.bar(positions - 0.2, [result.overall[n].balanced_accuracy for n in others], 0.4,
           label="balanced acc.")
    ax.bar(positions + 0.2, [result.overall[n].auc for n in others], 0.4, label="AUC")
    ax.set_xticks(positions, others, rotation=45, ha="right", fontsize=8)
    ax.set(ylim=(0, 1), title="other conditions")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Accuracy against perturbation strength (model threshold, not retuned)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _plots(result: EvalResult, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    made: list[str] = []
    y = np.asarray(result.labels)
    src = np.asarray(result.sources)
    clean = np.asarray(result.scores["none"])

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for source in sorted(set(src[y == FAKE])):
        mask = (y == REAL) | (src == source)
        fpr, tpr, _ = roc_curve(y[mask], clean[mask])
        auc = result.by_source["none"][source].auc
        ax.plot(fpr, tpr, label=f"{source} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        xlabel="false-positive rate (real photos)",
        ylabel="true-positive rate",
        title="ROC per generated source (no perturbation)",
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "roc_per_source.png", dpi=110)
    plt.close(fig)
    made.append("roc_per_source.png")

    fig = _perturbation_figure(result)
    fig.savefig(folder / "accuracy_vs_perturbation.png", dpi=110)
    plt.close(fig)
    made.append("accuracy_vs_perturbation.png")

    fig, ax = plt.subplots(figsize=(5, 5))
    bins = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(clean, bins) - 1, 0, 9)
    centres, observed = [], []
    for b in range(10):
        m = which == b
        if m.any():
            centres.append(float(clean[m].mean()))
            observed.append(float(y[m].mean()))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.plot(centres, observed, "o-")
    ax.set(
        xlabel="predicted P(generated)",
        ylabel="observed share generated",
        title=f"Reliability (ECE {_f(result.overall['none'].ece)})",
    )
    fig.tight_layout()
    fig.savefig(folder / "reliability.png", dpi=110)
    plt.close(fig)
    made.append("reliability.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(clean[y == REAL], bins=30, range=(0, 1), alpha=0.6, label="real")
    ax.hist(clean[y == FAKE], bins=30, range=(0, 1), alpha=0.6, label="generated")
    ax.axvline(result.threshold, color="k", ls="--", lw=1, label="threshold")
    ax.set(xlabel="P(generated)", ylabel="images", title="Score histogram (no perturbation)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "score_histogram.png", dpi=110)
    plt.close(fig)
    made.append("score_histogram.png")
    return made


def render_markdown(result: EvalResult, plots: list[str]) -> str:
    """The report's text."""
    clean = result.overall["none"]
    n_real = sum(1 for v in result.labels if v == REAL)
    n_fake = len(result.labels) - n_real
    lines = [
        "# Detector evaluation",
        "",
        f"Model: {result.model}; threshold {result.threshold:.3f} (the model's own, not "
        f"retuned). {n_fake} generated and {n_real} real images; alignment `{result.alignment}` "
        "(both classes centre-cropped and re-encoded alike). 95% bootstrap intervals in "
        "brackets.",
        "",
        "| perturbation | AUC | balanced acc. | TPR | FPR | TPR@1%FPR | TPR@5%FPR | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in result.perturbations:
        m = result.overall[name]
        lines.append(
            f"| {name} | {_ci(m, 'auc')} | {_ci(m, 'balanced_accuracy')} | {_f(m.tpr)} | "
            f"{_ci(m, 'fpr')} | {_f(m.tpr_at_1pct_fpr)} | {_f(m.tpr_at_5pct_fpr)} | "
            f"{_f(m.ece)} |"
        )
    drop = [
        (n, clean.balanced_accuracy - result.overall[n].balanced_accuracy)
        for n in result.perturbations
        if n != "none"
    ]
    if drop:
        worst = max(drop, key=lambda d: d[1])
        lines += [
            "",
            f"Largest change in balanced accuracy: {worst[0]}, "
            f"{_f(clean.balanced_accuracy)} -> "
            f"{_f(result.overall[worst[0]].balanced_accuracy)} "
            f"({-100 * worst[1]:+.1f} points).",
        ]
    lines += [
        "",
        "## Per generated source (against all real images, no perturbation)",
        "",
        "| source | n | AUC | balanced acc. | TPR | TPR@5%FPR |",
        "|---|---|---|---|---|---|",
    ]
    for source, m in result.by_source["none"].items():
        lines.append(
            f"| {source} | {m.n_generated} | {_f(m.auc)} | {_f(m.balanced_accuracy)} | "
            f"{_f(m.tpr)} | {_f(m.tpr_at_5pct_fpr)} |"
        )
    summary = result.summary["none"]
    lines += [
        "",
        f"Across sources: AUC mean {_f(summary['auc_mean'])}, min "
        f"{_f(summary['auc_min'])}; balanced accuracy mean "
        f"{_f(summary['balanced_accuracy_mean'])}, min "
        f"{_f(summary['balanced_accuracy_min'])}.",
    ]
    real_sources = sorted(
        {s for s, v in zip(result.sources, result.labels, strict=True) if v == REAL}
    )
    scores = np.asarray(result.scores["none"])
    src = np.asarray(result.sources)
    y = np.asarray(result.labels)
    lines += ["", "## False positives per real source", "", "| source | n | FPR |", "|---|---|---|"]
    for source in real_sources:
        m = (src == source) & (y == REAL)
        fpr = float((scores[m] >= result.threshold).mean()) if m.any() else float("nan")
        lines.append(f"| {source} | {int(m.sum())} | {_f(fpr)} |")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    if result.skipped:
        lines += ["", f"## Skipped ({len(result.skipped)} files that could not be read)", ""]
        lines += [f"- `{s['path']}`: {s['error']}" for s in result.skipped[:50]]
    lines += [
        "",
        f"Run time {result.seconds:.0f} s; feature cache {result.cache_hits} hits, "
        f"{result.cache_misses} misses.",
        "",
    ]
    return "\n".join(lines)


def write_report(result: EvalResult, folder: Path, plots: bool = True) -> Path:
    """Write ``report.md``, ``metrics.json`` and the plots into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    made = _plots(result, folder) if plots else []
    payload = json.dumps(to_jsonable(result_dict(result)), indent=2, allow_nan=False)
    atomic_write(folder / "metrics.json", payload.encode())
    report = folder / "report.md"
    atomic_write(report, render_markdown(result, made).encode())
    return report


__all__ = ["render_markdown", "write_report"]
