"""Command-line start-up: how long `synthmark --help` and a metadata read take, and whether
they import torch.

Run from the project root:

    .venv/bin/python benchmarks/cli_startup.py [--runs 10]

Times ``synthmark --help`` and ``synthmark watermark read`` / ``synthmark inspect`` of one
small PNG (median of several runs, each a fresh process), and reports which heavy modules
each one imported. The foundation issue's target: ``--help`` under 0.5 s; reading a
watermark or metadata without waiting for torch. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

PROBE = (
    "import runpy, sys, json, atexit\n"
    "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps(sorted(m for m in "
    "('torch', 'diffusers', 'transformers', 'timm', 'sklearn') if m in sys.modules)) + '\\n'))\n"
    "sys.argv = ['synthmark'] + sys.argv[1:]\n"
    "runpy.run_module('synthmark', run_name='__main__')\n"
)


def measure(args: list[str], env: dict[str, str], runs: int) -> dict[str, object]:
    times, modules = [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env,
                              capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        line = [x for x in done.stderr.splitlines() if x.startswith("MODULES ")]
        modules = json.loads(line[-1][8:]) if line else ["?"]
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
            "heavy_modules": modules}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "x.png"
        Image.new("RGB", (320, 320), (120, 130, 140)).save(image)
        env = {**os.environ, "SYNTHMARK_HOME": str(Path(tmp) / "home"), "HF_HUB_OFFLINE": "1"}
        report = {
            "help": measure(["--help"], env, options.runs),
            "watermark_read": measure(["watermark", "read", str(image), "--json"], env,
                                      max(3, options.runs // 2)),
            "inspect": measure(["inspect", str(image), "--json"], env,
                               max(3, options.runs // 2)),
        }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
