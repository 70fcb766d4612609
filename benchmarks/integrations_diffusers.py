"""What ``synthmark.integrations.diffusers.attach`` adds to a pipeline call, per image.

Run from the project root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integrations_diffusers.py [--n 20] [--size 512]

The tiny model renders SIZE x SIZE images (``--steps`` steps) in pairs: the same call,
same seed, once plain and once attached (PNG files, local CA, SQLite registry in a
temporary home); the order within each pair alternates so that a drift in the machine's
load falls on both. Per ``--output-type`` (``pil``, ``np``, ``pt``) it reports the median
and p95 of the plain call, the attached call and their difference (the overhead, in wall
time and in this process's CPU time); ``in_call``: the time the wrapper spends once the
pipeline has returned (all it adds: binding the arguments before takes microseconds),
timed inside the call, so the render's noise on a shared machine does not enter it; the
median of each labelling stage (the labelling step every face shares: watermark, labels,
registry); and ``attach_own``: ``in_call`` less those stages, what the wrapper itself costs
(reading the parameters, converting pixels, replacing the outputs). Prints one JSON
object. The issue's target: overhead <= 100 ms per 512 px image.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(1000 * statistics.median(values), 1), "p95_ms": round(1000 * p95, 1)}


def _timed(pipe: Any, seed: int, size: int, steps: int, output_type: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call."""
    import torch

    started, cpu = time.perf_counter(), time.process_time()
    pipe("benchmark image", num_inference_steps=steps, height=size, width=size,
         output_type=output_type, generator=torch.Generator().manual_seed(seed))
    return time.perf_counter() - started, time.process_time() - cpu


def measure(pipe: Any, hook: Any, args: argparse.Namespace, output_type: str) -> dict[str, Any]:
    """Paired plain and attached calls for one output type."""
    plain, attached, cpu, stages = [], [], [], {}
    after: list[tuple[float, float]] = []  # the wrapper's work once the pipeline returned
    labelled = hook.after

    def timed_after(*a: Any, **k: Any) -> Any:
        wall, started = time.perf_counter(), time.process_time()
        try:
            return labelled(*a, **k)
        finally:
            after.append((time.perf_counter() - wall, time.process_time() - started))

    hook.after = timed_after
    base, wrapped = type(pipe)._synthmark_base, type(pipe)
    for i in range(args.n + 1):  # the first pair warms up
        times = {}
        for mode in (("plain", "attached") if i % 2 else ("attached", "plain")):
            pipe.__class__ = wrapped if mode == "attached" else base
            times[mode] = _timed(pipe, i, args.size, args.steps, output_type)
        pipe.__class__ = wrapped
        if i == 0:
            continue
        plain.append(times["plain"][0])
        attached.append(times["attached"][0])
        cpu.append(times["attached"][1] - times["plain"][1])
        for name, seconds in hook.results[0].stages.items():
            stages.setdefault(name, []).append(seconds)
    del hook.after
    after = after[1:]  # the warm-up's
    own = [w - sum(r) for (w, _), r in zip(after, zip(*stages.values(), strict=True), strict=True)]
    return {
        "plain_call": _stats(plain),
        "attached_call": _stats(attached),
        "overhead": _stats([a - p for a, p in zip(attached, plain, strict=True)]),
        "overhead_cpu": _stats(cpu),
        "in_call": _stats([w for w, _ in after]),
        "in_call_cpu": _stats([c for _, c in after]),
        "stages_median_ms": {k: round(1000 * statistics.median(v), 1) for k, v in stages.items()},
        "attach_own": _stats(own),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output-type", nargs="+", default=["pil", "np", "pt"])
    args = parser.parse_args(argv)

    import torch

    from synthmark.generate.tiny import TINY_MODEL_ID, build_tiny_pipeline
    from synthmark.integrations.diffusers import attach, detach
    from synthmark.settings import Settings

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    pipe = build_tiny_pipeline()
    report: dict[str, Any] = {
        "images_per_type": args.n,
        "size": f"{args.size}x{args.size}",
        "steps": args.steps,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        hook = attach(pipe, Path(tmp) / "out", model_id=TINY_MODEL_ID, settings=settings)
        try:
            for output_type in args.output_type:
                report[output_type] = measure(pipe, hook, args, output_type)
        finally:
            detach(pipe)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
