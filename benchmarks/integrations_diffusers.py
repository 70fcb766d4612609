"""What ``synthmark.integrations.diffusers.attach`` adds to a pipeline call, per image.

Run from the project root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/integrations_diffusers.py [--n 20] [--size 512]

The tiny model renders SIZE x SIZE images (``--steps`` steps) in pairs: the same call,
same seed, once plain and once attached (PNG files, local CA, SQLite registry in a
temporary home); the order within each pair alternates so that a drift in the machine's
load falls on both. Per ``--output-type`` (``pil``, ``np``, ``pt``) it reports the median
and p95 of the plain call, the attached call and their difference (the overhead), and the
median of each labelling stage (the labelling step every face shares: watermark, labels,
registry), and ``attach_own``: the overhead less those stages, i.e. what the wrapper itself
costs (binding the call, converting pixels, replacing the outputs). Prints one JSON
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


def _timed(pipe: Any, seed: int, size: int, steps: int, output_type: str) -> float:
    import torch

    started = time.perf_counter()
    pipe("benchmark image", num_inference_steps=steps, height=size, width=size,
         output_type=output_type, generator=torch.Generator().manual_seed(seed))
    return time.perf_counter() - started


def measure(pipe: Any, hook: Any, args: argparse.Namespace, output_type: str) -> dict[str, Any]:
    """Paired plain and attached calls for one output type."""
    plain, attached, own, stages = [], [], [], {}
    base, wrapped = type(pipe)._synthmark_base, type(pipe)
    for i in range(args.n + 1):  # the first pair warms up
        times = {}
        for mode in (("plain", "attached") if i % 2 else ("attached", "plain")):
            pipe.__class__ = wrapped if mode == "attached" else base
            times[mode] = _timed(pipe, i, args.size, args.steps, output_type)
        pipe.__class__ = wrapped
        if i == 0:
            continue
        plain.append(times["plain"])
        attached.append(times["attached"])
        for name, seconds in hook.results[0].stages.items():
            stages.setdefault(name, []).append(seconds)
        own.append(times["attached"] - times["plain"] - sum(hook.results[0].stages.values()))
    return {
        "plain_call": _stats(plain),
        "attached_call": _stats(attached),
        "overhead": _stats([a - p for a, p in zip(attached, plain, strict=True)]),
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
