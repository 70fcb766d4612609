"""Colour difference of synthmark's mark, by how its change is split over R, G and B.

Run from the project root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/watermark_colour.py [--n 30] [--size 512]
        [--mixes 0,0.5,1]

Marks N images of ``../shared/data/detector`` (centre squares, as the watermark benchmark
takes them, every 10th of the first 10 N) with ``TileDesign.colour_mix`` set to each value
(0: the same change in R, G and B; 1: in proportion to the luma weights; the default is
0.5) and reports, per value, PSNR and SSIM (the targets, which every value meets by
construction) and the colour difference CIEDE2000 (scikit-image's ``deltaE_ciede2000`` on
CIELAB under D65): the mean over pixels averaged over images, the worst image's mean, and
the 99th percentile over pixels averaged over images. A CIEDE2000 of about 1 is often taken
as a just noticeable difference between uniform patches; a mark's change varies over a few
pixels, where the eye resolves colour less finely than lightness, so these numbers overstate
how visible it is, and say nothing about visibility on their own. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/detector"))
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--mixes", default="0,0.5,1")
    args = parser.parse_args(argv)

    from skimage.color import deltaE_ciede2000, rgb2lab

    from synthmark.eval.watermark_data import bench_images
    from synthmark.watermark.quality import psnr, ssim
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    mixes = [float(m) for m in args.mixes.split(",")]
    key = random.Random(0).randbytes(32)
    schemes = {m: TiledScheme(key, replace(TileDesign(), colour_mix=m)) for m in mixes}
    rng = random.Random(0)
    rows: dict[float, list[tuple[float, float, float, float]]] = {m: [] for m in mixes}
    for i, (_label, image) in enumerate(bench_images([args.data], args.size, 10 * args.n, 0)):
        payload = rng.randbytes(8)
        if i % 10:
            continue
        lab = rgb2lab(np.asarray(image) / 255.0)
        for m, scheme in schemes.items():
            marked = scheme.embed(image, payload)
            de = deltaE_ciede2000(lab, rgb2lab(np.asarray(marked) / 255.0))
            quality = (psnr(image, marked), ssim(image, marked))
            rows[m].append((float(de.mean()), float(np.percentile(de, 99)), *quality))
    report = {
        "images": len(rows[mixes[0]]),
        "size": args.size,
        "by_colour_mix": {
            str(m): {
                "channel_gains": [round(g, 4) for g in schemes[m].design.channel_gains],
                "ciede2000_mean": round(statistics.mean(r[0] for r in v), 3),
                "ciede2000_worst_image_mean": round(max(r[0] for r in v), 3),
                "ciede2000_p99_mean": round(statistics.mean(r[1] for r in v), 2),
                "psnr_min": round(min(r[2] for r in v), 2),
                "ssim_min": round(min(r[3] for r in v), 4),
            }
            for m, v in rows.items()
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
