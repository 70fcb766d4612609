"""The watermark benchmark's tables, in markdown: robustness per attack, quality and speed,
security (:mod:`synthmark.eval.watermark_security`), and the SD public marks' calibration.
"""

from __future__ import annotations

from synthmark.eval.watermark_bench import TARGET_EMBED_MS, TARGET_READ_MS, BenchResult

__all__ = ["format_markdown", "format_security"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _keys(result: BenchResult) -> list[tuple[str, int]]:
    return sorted(
        {(r.scheme, r.size) for r in result.rows},
        key=lambda t: (list(result.config["schemes"]).index(t[0]), t[1]),
    )


def _robustness(result: BenchResult) -> list[str]:
    """Exact / detected / bit accuracy per attack and scheme x size."""
    keys = _keys(result)
    attacks = list(dict.fromkeys(r.attack for r in result.rows))
    cell = {(r.scheme, r.size, r.attack): r for r in result.rows}
    lines = [
        "Exact payload % / detected % / bit accuracy % (n images per column in the second table)\n",
        "| attack | " + " | ".join(f"{s} {z}" for s, z in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for a in attacks:
        parts = []
        for s, z in keys:
            r = cell.get((s, z, a))
            text = f"{_pct(r.exact)} / {_pct(r.detected)} / {_pct(r.bit_accuracy)}" if r else ""
            parts.append(text)
        lines.append(f"| {a} | " + " | ".join(parts) + " |")
    return lines


def _bound_table(result: BenchResult) -> list[str]:
    """synthmark: exact and bound per attack, with the attack's PSNR cost."""
    rows = [r for r in result.rows if r.bound is not None]
    if not rows:
        return []
    sizes = sorted({r.size for r in rows})
    cell = {(r.size, r.attack): r for r in rows}
    lines = [
        "",
        "synthmark: exact payload % / bound % (the content matches the registered picture), "
        "and the attack's PSNR against the marked image (dB, mean; blank where the size "
        "changes)\n",
        "| attack | " + " | ".join(f"{z} px exact / bound | PSNR {z}" for z in sizes) + " |",
        "|---|" + "---|---|" * len(sizes),
    ]
    for a in dict.fromkeys(r.attack for r in rows):
        parts = []
        for z in sizes:
            r = cell.get((z, a))
            if r is None:
                parts += ["", ""]
                continue
            cost = "" if r.psnr_cost is None else f"{r.psnr_cost:.1f}"
            parts += [f"{_pct(r.exact)} / {_pct(r.bound or 0.0)}", cost]
        lines.append(f"| {a} | " + " | ".join(parts) + " |")
    return lines


def _summary(result: BenchResult) -> list[str]:
    lines = [
        "",
        "| scheme | size | n | payload bits | PSNR mean (min) | SSIM mean (min) | "
        "centre-half PSNR mean (min) | embed ms | read ms | false positives / unmarked reads "
        "| wrong-key positives |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
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
    return lines


def format_security(result: BenchResult) -> list[str]:
    """The security rows: each attack's success against its PSNR cost."""
    if not result.security:
        return []
    lines = [
        "",
        "synthmark security (copy: PSNR of the forged photo against the host; average, "
        "regen: against the marked image). present / exact: the mark reads (with the "
        "donor's or its own payload); bound: counted as `synthetic` on the watermark's "
        "word; copied: reported as a copied mark by the registry\n",
        "| attack | size | n | PSNR mean (min) | present % | exact % | bound % | copied % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(result.security, key=lambda r: (r.attack.split(":")[0], r.size, r.attack)):
        lines.append(
            f"| {r.attack} | {r.size} | {r.n} | {r.psnr_mean:.1f} ({r.psnr_min:.1f}) | "
            f"{_pct(r.present)} | {_pct(r.exact)} | {_pct(r.bound)} | {_pct(r.copied)} |"
        )
    return lines


def _timing(result: BenchResult) -> list[str]:
    t5, t20 = result.timing_2048.get("512"), result.timing_2048.get("2048")
    if not (t5 and t20):
        return []
    return [
        "",
        f"synthmark timing, one thread, median of {result.config.get('timing_images')} "
        f"images (read: the marked image / the unmarked original): 512 px embed "
        f"{t5['embed_ms']:.0f} ms (target <= {TARGET_EMBED_MS:.0f}) / read "
        f"{t5['read_ms']:.0f} / {t5['read_unmarked_ms']:.0f} ms (target <= "
        f"{TARGET_READ_MS:.0f}); 2048 px embed {t20['embed_ms']:.0f} ms (target <= "
        f"{4 * TARGET_EMBED_MS:.0f}) / read {t20['read_ms']:.0f} / "
        f"{t20['read_unmarked_ms']:.0f} ms (target <= {4 * TARGET_READ_MS:.0f})",
    ]


def format_markdown(result: BenchResult) -> str:
    """The tables: per-attack exact-payload/detection/bit accuracy, synthmark's bound rate
    and PSNR costs, quality and speed, security, notes and timing."""
    lines = _robustness(result) + _bound_table(result) + _summary(result)
    lines += format_security(result)
    if result.notes:
        lines += ["", *(f"Note: {note}." for note in dict.fromkeys(result.notes))]
    lines += _timing(result)
    return "\n".join(lines)
