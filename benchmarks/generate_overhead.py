"""Generation overhead: what watermark + labels + signing + registry add per image.

Run from the project root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generate_overhead.py [--n 20] [--size 512]

Generates N images with the tiny model at SIZE x SIZE through the real Generator (PNG, local
CA, SQLite registry in a temporary home) and reports, per image, the median and p95 of:
rendering, the watermark (embed + read-back check), labels (XMP, parameters, C2PA signing
and verification), registry commit + atomic write, and their sum (the overhead). Prints one
JSON object. The issue's target: overhead <= 100 ms per 512x512 image.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(1000 * statistics.median(values), 1), "p95_ms": round(1000 * p95, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--format", default="png", choices=["png", "jpeg", "webp"])
    args = parser.parse_args(argv)

    import torch

    from synthmark.generate import GenerationRequest, OutputFormat
    from synthmark.generate.assemble import build_generator
    from synthmark.settings import Settings

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        generator = build_generator(settings, model="tiny",
                                    output_format=OutputFormat(args.format))
        requests = [GenerationRequest(f"benchmark image {i}", seed=i, steps=10, width=args.size,
                                      height=args.size) for i in range(args.n + 2)]
        results = list(generator.generate(requests, Path(tmp) / "out"))[2:]  # 2 warm-up
        generator.labeller.close()
    stages: dict[str, list[float]] = {}
    for r in results:
        for name, seconds in r.stages.items():
            stages.setdefault(name, []).append(seconds)
    report = {
        "images": len(results),
        "size": f"{args.size}x{args.size}",
        "format": args.format,
        "render_tiny_model": _stats([r.render_seconds for r in results]),
        "overhead_total": _stats([r.marking_seconds for r in results]),
        "stages": {k: _stats(v) for k, v in stages.items()},
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
