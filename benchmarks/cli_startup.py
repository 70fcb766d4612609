"""Command-line start-up: how long `synthmark --help` and a metadata read take, and whether
they import torch.

Run from the project root:

    .venv/bin/python benchmarks/cli_startup.py [--runs 10]

Times ``synthmark --help`` and ``synthmark watermark read`` / ``synthmark inspect`` of a
real generated PNG (median of several runs, each a fresh process), and reports which heavy
modules each one imported. The PNG is made first by ``synthmark generate`` with the tiny
model at ``--size`` (512 by default): it carries a C2PA manifest, XMP, parameters and our
watermark, and the home folder holds its key and registry record, so every reader does its
full work (a flat grey image would let the watermark readers stop early). The foundation
issue's target: ``--help`` under 0.5 s; reading a watermark or metadata without waiting for
torch. Prints one JSON object.
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


def generate(folder: Path, env: dict[str, str], size: int) -> Path:
    """One PNG made by ``synthmark generate``: marked, labelled, signed and registered."""
    done = subprocess.run(
        [sys.executable, "-m", "synthmark", "-q", "generate", "a lighthouse at dusk", "-o",
         str(folder / "out"), "--width", str(size), "--height", str(size), "--steps", "2",
         "--json"],
        env=env, capture_output=True, text=True, check=True,
    )
    return Path(json.loads(done.stdout.splitlines()[-1])["path"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=512, help="side of the generated PNG")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SYNTHMARK_HOME": str(Path(tmp) / "home"), "HF_HUB_OFFLINE": "1"}
        image = generate(Path(tmp), env, options.size)
        report = {
            "image": {"width": options.size, "height": options.size, "bytes":
                      image.stat().st_size, "made_by": "synthmark generate (tiny model)"},
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
