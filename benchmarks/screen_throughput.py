"""Screening throughput: 512x512 PNGs through every layer, out of the box.

Run from the project root:

    .venv/bin/python benchmarks/screen_throughput.py [--n 200] [--workers auto]

Half the images are generated with the tiny model (so they carry C2PA, XMP, parameters, our
watermark and a registry record), half are 512x512 crops of real photos from
``../shared/data/detector`` saved as PNG. Every layer is on: C2PA, XMP, generator metadata,
our watermark and the SD public marks, the registry (exact + perceptual) and the detector.

Two measurements:

* ``library``: :func:`synthmark.screen.batch.run_batch` with ``--workers`` (``auto`` is what
  ``synthmark screen`` does by default), wall clock with worker start-up, and steady state;
* ``cli``: ``synthmark screen FOLDER -o results.jsonl`` with no options at all, as a user
  runs it: a fresh process, imports, detector load and worker start-up included.

Prints one JSON object. The target: >= 10 images/s on 2 cores, out of the box.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"


def make_images(folder: Path, settings: object, n: int) -> list[Path]:
    from synthmark.generate import GenerationRequest
    from synthmark.generate.assemble import build_generator

    generator = build_generator(settings, model="tiny")  # type: ignore[arg-type]
    half = n // 2
    requests = [GenerationRequest(f"image {i}", seed=i, steps=4, width=512, height=512)
                for i in range(half)]
    paths = [r.path for r in generator.generate(requests, folder / "generated")]
    generator.labeller.close()
    photos = sorted(p for sub in ("real_unsplash_men", "real_sun_hays80", "real_dreambooth_objects")
                    for p in (DATA / sub).glob("*.jpg"))
    (folder / "photos").mkdir()
    for i, src in enumerate(photos[: n - half]):
        with Image.open(src) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        side = min(w, h, 512)
        crop = rgb.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
        crop = crop.resize((512, 512)) if side < 512 else crop
        target = folder / "photos" / f"photo-{i:04d}.png"
        crop.save(target)
        paths.append(target)
    return paths


def run_cli(folder: Path, home: Path, n: int) -> dict[str, object]:
    """``synthmark screen generated/ photos/ -o results.jsonl``, default options, timed."""
    out = folder / "results.jsonl"
    command = [sys.executable, "-m", "synthmark", "--home", str(home), "screen",
               str(folder / "generated"), str(folder / "photos"), "-o", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    records = out.read_text().splitlines() if out.exists() else []
    return {
        "command": "synthmark screen generated/ photos/ -o results.jsonl",
        "exit_status": done.returncode,
        "records": len(records),
        "wall_seconds": round(wall, 2),
        "images_per_second": round(n / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", default="auto", help="a number, or auto (the default)")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line run")
    args = parser.parse_args(argv)

    from synthmark.imaging import expand_inputs
    from synthmark.screen.assemble import ScreenerSpec
    from synthmark.screen.batch import available_cores, resolve_workers, run_batch
    from synthmark.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        paths = make_images(Path(tmp), settings, args.n)
        spec = ScreenerSpec.from_settings(settings)
        items = list(expand_inputs(map(str, paths)))
        workers = resolve_workers(args.workers, len(items))
        stamps: list[float] = []
        start = time.perf_counter()
        summary = run_batch(items, spec, workers=workers,
                            on_record=lambda r: stamps.append(time.perf_counter()))
        wall = time.perf_counter() - start
        cli = None if args.no_cli else run_cli(Path(tmp), settings.home, len(items))
    steady = (len(stamps) - 1 - len(stamps) // 5) / (stamps[-1] - stamps[len(stamps) // 5])
    report = {
        "images": len(items),
        "library": {
            "workers": workers,
            "wall_seconds": round(wall, 2),
            "images_per_second_wall": round(len(items) / wall, 2),
            "images_per_second_steady": round(steady, 2),
            "verdicts": summary.verdicts,
            "errors": summary.errors,
        },
        "cli": cli,
        "cores": available_cores(),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
