"""Detector speed: batch prediction from 512 px files, per-image cost, ONNX latency.

    SYNTHMARK_MODELS=../shared/models HF_HUB_OFFLINE=1 .venv/bin/python \\
        benchmarks/detector_speed.py [--model src/synthmark/detect/default] [--n 64] [--out f.json]

1. **Batch prediction** (the issue's target, >= 20 images/s on 2 cores): ``predict_paths``
   over ``--n`` 512x512 PNG files (written from the shared photos: crops, not resizes), with
   1 and 2 worker threads (torch held to one thread per worker).
2. **Per-image cost** on one thread: decode + preprocessing + features + head, in ms, for the
   screening budget (screening runs every layer; its target is >= 10 images/s on 2 cores).
3. **ONNX single-thread latency** of the exported model through onnxruntime: the graph alone
   on one 320 px tile, and a whole 512 px file with the preprocessing; and batch prediction
   through the exported file (``detect predict --model detector.onnx``) with 1 and 2 workers.

Timings depend on the machine and its load; the script prints both with the core count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from synthmark.detect import Detector, OnnxDetector, export_onnx, predict_paths
from synthmark.imaging import load_image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def write_files(folder: Path, n: int) -> list[Path]:
    """``n`` 512x512 PNG crops of shared real photos (no resize)."""
    sources = sorted((DATA / "detector" / "real_sun_hays80").glob("*.jpg"))
    out = []
    for i in range(n):
        image = load_image(sources[i % len(sources)]).image
        w, h = image.size
        left, top = (w - 512) // 2 + (i // len(sources)) * 8, (h - 512) // 2
        path = folder / f"photo_{i:03d}.png"
        image.crop((left, top, left + 512, top + 512)).save(path)
        out.append(path)
    return out


def batch_rate(det: Detector | OnnxDetector, files: list[Path], jobs: int) -> float:
    import torch

    torch.set_num_threads(1 if jobs > 1 else max(1, os.cpu_count() or 1))
    if isinstance(det, OnnxDetector):
        det = OnnxDetector(det.path, n_jobs=jobs)
    det.n_jobs = jobs
    list(predict_paths(det, files[:4]))  # warm up
    start = time.perf_counter()
    results = list(predict_paths(det, files))
    seconds = time.perf_counter() - start
    bad = [r for r in results if r.error]
    if bad:
        raise SystemExit(f"prediction failed: {bad[0].error}")
    return len(files) / seconds


def per_image_ms(det: Detector, files: list[Path]) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    steps: dict[str, list[float]] = {"decode": [], "preprocess": [], "features+head": []}
    for path in files:
        t0 = time.perf_counter()
        image = load_image(path).image
        t1 = time.perf_counter()
        tiles = det.tiles(image)
        t2 = time.perf_counter()
        det.head_.decision_function(det.extractor_.transform(tiles).astype(np.float64))
        t3 = time.perf_counter()
        for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            steps[key].append(1000 * dt)
    out = {k: statistics.median(v) for k, v in steps.items()}
    out["total"] = sum(out.values())
    return out


def onnx_latency(det: Detector, files: list[Path], folder: Path) -> dict[str, float]:
    path = export_onnx(det, folder / "detector.onnx")
    onnx_det = OnnxDetector(path, n_jobs=1)
    tile = np.asarray(det.tiles(load_image(files[0]).image)[0], dtype=np.float32)
    batch = tile.transpose(2, 0, 1)[None].copy()
    session = onnx_det._session
    for _ in range(3):
        session.run(None, {"tiles": batch})
    graph = []
    for _ in range(20):
        t = time.perf_counter()
        session.run(None, {"tiles": batch})
        graph.append(1000 * (time.perf_counter() - t))
    whole = []
    for p in files[:20]:
        t = time.perf_counter()
        onnx_det.predict_proba([load_image(p).image])
        whole.append(1000 * (time.perf_counter() - t))
    return {
        "images_per_second_1_worker": batch_rate(onnx_det, files, 1),
        "images_per_second_2_workers": batch_rate(onnx_det, files, 2),
        "file_mb": path.stat().st_size / 1e6,
        "graph_ms_per_tile": statistics.median(graph),
        "tile_px": int(tile.shape[0]),
        "file_ms_with_preprocessing": statistics.median(whole),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-onnx", action="store_true")
    args = parser.parse_args(argv)
    det = Detector.load(args.model)
    results: dict[str, object] = {"cores": os.cpu_count(), "n_files": args.n}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(Path(tmp), args.n)
        results["per_image_ms_1_thread"] = per_image_ms(det, files[:32])
        for jobs in (1, 2):
            results[f"images_per_second_{jobs}_threads"] = batch_rate(det, files, jobs)
        if not args.skip_onnx:
            results["onnx_1_thread"] = onnx_latency(det, files, Path(tmp))
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
