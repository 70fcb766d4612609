"""Watermark benchmark: synthmark, dwtDct, dwtDctSvd and rivaGan against every attack, and
synthmark against the security attacks (copy onto photos, averaging, regeneration).

Run from the project root (about 40 minutes on one core with the defaults; rivaGan alone
takes about 3 s per image and attack, so it gets fewer images; the regeneration attack
about 7 s per 512 px image):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/watermark_bench.py \\
        [--n 100] [--sizes 512,1024] [--rivagan-n 10] [--json-out reports/watermark.json] \\
        [--attacks crop:0.5,crop_corner:0.5] [--seed 0] [--no-security] \\
        [--copies copy:median:1] [--averages average:40] [--no-regen] \\
        [--regen-weights ../shared/models/taef2]

The same run is ``synthmark watermark bench`` (see :mod:`synthmark.eval.watermark_bench`
and :mod:`synthmark.eval.watermark_security` for what each column means). This script pins
every numeric library to one thread first, so that the embed/read times are one-core
times, prints the markdown tables, the SD public-mark calibration, and optionally writes
the full result as JSON.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from synthmark.attacks import parse_attacks  # noqa: E402
from synthmark.eval.watermark_bench import BenchConfig, run_benchmark  # noqa: E402
from synthmark.eval.watermark_calibration import (  # noqa: E402
    calibrate_public_marks,
    format_calibration,
)
from synthmark.eval.watermark_security import (  # noqa: E402
    DEFAULT_AVERAGES,
    DEFAULT_COPIES,
    SecurityConfig,
)
from synthmark.eval.watermark_tables import format_markdown  # noqa: E402
from synthmark.jsonutil import dumps  # noqa: E402


def _names(text: str | None, default: tuple[str, ...]) -> list[str]:
    if text is None:
        return list(default)
    return [t.strip() for t in text.split(",") if t.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/detector"))
    parser.add_argument("--n", type=int, default=100, help="images per size and scheme")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--schemes", default="synthmark,dwtDct,dwtDctSvd,rivaGan")
    parser.add_argument("--rivagan-n", type=int, default=10)
    parser.add_argument("--unmarked", type=int, default=0, help="0 = every image")
    parser.add_argument("--attacks", help="comma-separated (default: targets, stretch, geometry)")
    parser.add_argument("--seed", type=int, default=0, help="picks the images and payloads")
    parser.add_argument("--no-calibration", action="store_true")
    parser.add_argument("--no-security", action="store_true", help="skip copy/average/regen")
    parser.add_argument("--copies", help=f"copy attacks (default {','.join(DEFAULT_COPIES)})")
    parser.add_argument("--averages", help=f"averaging (default {','.join(DEFAULT_AVERAGES)})")
    parser.add_argument("--no-regen", action="store_true", help="skip the regeneration attack")
    parser.add_argument("--regen-weights", default="../shared/models/taef2")
    parser.add_argument("--timing", type=int, default=5, help="images for the timing (0: skip)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    def progress(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    security = None
    if not args.no_security:
        security = SecurityConfig(
            copies=_names(args.copies, DEFAULT_COPIES),
            averages=_names(args.averages, DEFAULT_AVERAGES),
            regen=not args.no_regen,
            regen_weights=args.regen_weights,
        )
    config = BenchConfig(
        data_dir=args.data,
        schemes=args.schemes.split(","),
        sizes=[int(s) for s in args.sizes.split(",")],
        n_images=args.n,
        scheme_images={"rivaGan": args.rivagan_n},
        unmarked_limit=args.unmarked or None,
        seed=args.seed,
        timing_2048=args.timing,
        security=security,
    )
    if args.attacks:
        config.attacks = [a.name for a in parse_attacks(args.attacks)]
    started = time.time()
    result = run_benchmark(config, progress)
    calibration = None
    if not args.no_calibration:
        calibration = calibrate_public_marks(args.data, args.unmarked or None, progress=progress)
    print(format_markdown(result))
    if calibration is not None:
        print()
        print(format_calibration(calibration))
    print(f"\n(wall time {time.time() - started:.0f} s)")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(dumps({"benchmark": result, "public_marks": calibration}) + "\n")


if __name__ == "__main__":
    main()
