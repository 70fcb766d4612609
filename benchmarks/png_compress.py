"""PNG encoding time and size per zlib level, for the level ``synthmark label`` writes.

Twelve Sun-Hays photos, centre square resized to SIZE px (as ``watermark_timing.py`` takes
them), each encoded by Pillow at zlib levels 1, 3 and 6 (Pillow's default). Prints one JSON
object: per level, the median encode time and the mean file size, also relative to level 6.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/png_compress.py [--size 512]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watermark_timing import photos  # the benchmark beside this one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    images = photos(size=args.size)
    rows: dict[int, dict[str, float]] = {}
    for level in (1, 3, 6):
        times, sizes = [], []
        for image in images:
            for _ in range(args.repeat):
                buf = io.BytesIO()
                started = time.perf_counter()
                image.save(buf, format="PNG", compress_level=level)
                times.append(time.perf_counter() - started)
            sizes.append(len(buf.getvalue()))
        rows[level] = {
            "median_ms": round(1000 * statistics.median(times), 1),
            "mean_bytes": round(statistics.mean(sizes)),
        }
    for row in rows.values():
        row["size_vs_level_6"] = round(row["mean_bytes"] / rows[6]["mean_bytes"], 3)
    report = {"size": f"{args.size}x{args.size}", "images": len(images), "levels": rows}
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
