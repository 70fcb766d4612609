"""``synthmark eval watermark``: the watermark benchmark on any images, as a report.

The measuring is :mod:`synthmark.eval.watermark_bench` (the same code as ``synthmark watermark
bench``); this module picks the attack set and writes ``report.md`` (one summary table
first), ``results.json`` and plots.

The attack set is the watermark issue's (:data:`synthmark.attacks.WATERMARK_TARGET_ATTACKS`,
the stretch goals and the geometry of the security issue) plus the WAVES-style extras: WebP
q75, a screenshot-like rescale with
sharpening, and a crop-plus-pad.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthmark.attacks import (
    WATERMARK_GEOMETRY_ATTACKS,
    WATERMARK_STRETCH_ATTACKS,
    WATERMARK_TARGET_ATTACKS,
)
from synthmark.imaging import atomic_write
from synthmark.jsonutil import to_jsonable

EXTRA_ATTACKS: tuple[str, ...] = ("webp:75", "screenshot:0.8", "crop_pad:0.7")
EVAL_ATTACKS: tuple[str, ...] = (
    WATERMARK_TARGET_ATTACKS
    + WATERMARK_STRETCH_ATTACKS
    + WATERMARK_GEOMETRY_ATTACKS
    + EXTRA_ATTACKS
)


def _summary_rows(result: Any) -> list[dict[str, Any]]:
    rows = []
    for s in result.summaries:
        cells = [r for r in result.rows if r.scheme == s.scheme and r.size == s.size]
        attacked = [r for r in cells if r.attack != "none"]
        worst = min(attacked, key=lambda r: r.exact) if attacked else None
        rows.append({
            "scheme": s.scheme,
            "size": s.size,
            "n": s.n,
            "payload_bits": s.payload_bits,
            "psnr_mean": s.psnr_mean,
            "ssim_mean": s.ssim_mean,
            "exact_mean": float(np.mean([r.exact for r in attacked])) if attacked else None,
            "exact_worst": worst.exact if worst else None,
            "worst_attack": worst.attack if worst else None,
            "tpr_mean": float(np.mean([r.detected for r in attacked])) if attacked else None,
            "bit_accuracy_mean": float(np.mean([r.bit_accuracy for r in attacked]))
            if attacked else None,
            "fpr": s.false_positives / s.unmarked_reads if s.unmarked_reads else None,
            "false_positives": s.false_positives,
            "unmarked_reads": s.unmarked_reads,
            "embed_ms": s.embed_ms,
            "read_ms": s.read_ms,
        })
    return rows


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _worst(row: dict[str, Any]) -> str:
    if row["worst_attack"] is None:
        return "no attacks"
    return f"{_pct(row['exact_worst'])} ({row['worst_attack']})"


def render_markdown(result: Any, images: Sequence[Path]) -> str:
    from synthmark.eval.watermark_tables import format_markdown

    lines = [
        "# Watermark evaluation",
        "",
        f"Images: {', '.join(str(p) for p in images)}. Each scheme embeds a random payload, "
        "each attack is applied to the marked image, and the mark is read from the attacked "
        "image alone. TPR = read `present` at the scheme's own threshold; exact = present with "
        "the exact payload; FPR = `present` on the same images unmarked (as they are, a centre "
        "crop of half the area, and a 0.75x resize).",
        "",
        "| scheme | size | n | bits | PSNR | SSIM | exact (mean over attacks) | exact (worst) | "
        "TPR (mean) | FPR | embed ms | read ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in _summary_rows(result):
        lines.append(
            f"| {row['scheme']} | {row['size']} | {row['n']} | {row['payload_bits']} | "
            f"{row['psnr_mean']:.1f} dB | {row['ssim_mean']:.3f} | {_pct(row['exact_mean'])} | "
            f"{_worst(row)} | {_pct(row['tpr_mean'])} | "
            f"{row['false_positives']}/{row['unmarked_reads']} | {row['embed_ms']:.0f} | "
            f"{row['read_ms']:.0f} |"
        )
    lines += ["", "## Per attack", "", format_markdown(result), "",
              "![exact payload rate](exact_rate.png)", "", "![bit accuracy](bit_accuracy.png)",
              ""]
    return "\n".join(lines)


def _plots(result: Any, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({(r.scheme, r.size) for r in result.rows},
                  key=lambda k: (list(result.config["schemes"]).index(k[0]), k[1]))
    attacks = list(dict.fromkeys(r.attack for r in result.rows))
    cell = {(r.scheme, r.size, r.attack): r for r in result.rows}
    for metric, name, title in (("exact", "exact_rate.png", "Exact payload rate"),
                                ("bit_accuracy", "bit_accuracy.png", "Bit accuracy")):
        grid = np.full((len(keys), len(attacks)), np.nan)
        for i, (s, z) in enumerate(keys):
            for j, a in enumerate(attacks):
                if (s, z, a) in cell:
                    grid[i, j] = getattr(cell[(s, z, a)], metric)
        fig, ax = plt.subplots(figsize=(max(7, 0.55 * len(attacks)), 0.5 * len(keys) + 2))
        im = ax.imshow(grid, vmin=0.5 if metric == "bit_accuracy" else 0, vmax=1,
                       cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(attacks)), attacks, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(keys)), [f"{s} {z}px" for s, z in keys], fontsize=8)
        for i in range(len(keys)):
            for j in range(len(attacks)):
                if np.isfinite(grid[i, j]):
                    ax.text(j, i, f"{100 * grid[i, j]:.0f}", ha="center", va="center",
                            fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.03)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)


def write_report(result: Any, images: Sequence[Path], folder: Path, plots: bool = True) -> Path:
    """Write ``report.md``, ``results.json`` and the plots into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if plots:
        _plots(result, folder)
    payload = {"summary": _summary_rows(result), "rows": result.rows,
               "summaries": result.summaries, "security": result.security,
               "notes": result.notes, "timing_2048": result.timing_2048,
               "config": result.config}
    atomic_write(folder / "results.json",
                 json.dumps(to_jsonable(payload), indent=2, allow_nan=False).encode())
    report = folder / "report.md"
    atomic_write(report, render_markdown(result, images).encode())
    return report


__all__ = ["EVAL_ATTACKS", "EXTRA_ATTACKS", "render_markdown", "write_report"]
