"""Median embed / read (marked) / read (unmarked) time of the synthmark scheme at 512 px.

Twelve Sun-Hays photos, centre square resized to 512 px, a fixed key; run with
``OMP_NUM_THREADS=1`` (OpenCV's own thread pool ignores it, so the script sets OpenCV to
one thread itself). Uses only ``get_scheme``, ``embed`` and ``extract``, so the same
script times older checkouts (``PYTHONPATH=OTHER/src``) on the same machine, side by side.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/watermark_timing.py [LABEL]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import cv2
from PIL import Image

from synthmark.watermark import get_scheme

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/detector/real_sun_hays80"
KEY = bytes(range(32))


def photos(n: int = 12, size: int = 512) -> list[Image.Image]:
    """The centre squares of the first ``n`` Sun-Hays photos, resized to ``size``."""
    out = []
    for path in sorted(DATA.glob("*"))[:n]:
        im = Image.open(path).convert("RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        square = im.crop((left, top, left + side, top + side))
        out.append(square.resize((size, size), Image.Resampling.LANCZOS))
    return out


def ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 1)


def main() -> int:
    cv2.setNumThreads(1)  # one thread, as OMP_NUM_THREADS=1 does for NumPy's and SciPy's
    scheme = get_scheme("synthmark", key=KEY)
    embed: list[float] = []
    read: list[float] = []
    unmarked: list[float] = []
    for i, image in enumerate(photos()):
        payload = (i + 1).to_bytes(8, "big")
        t0 = time.perf_counter()
        marked = scheme.embed(image, payload)
        t1 = time.perf_counter()
        readout = scheme.extract(marked)
        t2 = time.perf_counter()
        scheme.extract(image)
        t3 = time.perf_counter()
        if readout.payload != payload:
            raise SystemExit(f"image {i}: the mark did not read back")
        embed.append(t1 - t0)
        read.append(t2 - t1)
        unmarked.append(t3 - t2)
    label = sys.argv[1] if len(sys.argv) > 1 else "synthmark"
    print(
        f"{label}: 512 px embed {ms(embed)} ms, read marked {ms(read)} ms, "
        f"read unmarked {ms(unmarked)} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
