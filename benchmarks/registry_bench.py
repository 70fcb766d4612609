"""Registry benchmark: perceptual lookup over 1,000,000 records, and write throughput.

Run from the project root (about 3-6 minutes on 2 cores, 0.5 GB of disk in a temp folder):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/registry_bench.py [--records 1000000]

What it does:

1. Computes the pHash of real images from ``../shared/data/detector`` and, for each of the
   64 bits, how often it is set. Synthetic hashes are drawn with those per-bit rates, so the
   bands are as unevenly filled as real ones (bit 0, the DC term, is nearly always set).
2. Fills a fresh SQLite registry with N synthetic committed records in one transaction
   (``import_records``), plus the real images as records of their own.
3. Times ``lookup_phash`` (the database search alone) for hashes of real images after
   JPEG q70 + resize 0.5 (each must find its own record) and for random hashes (misses),
   and ``lookup_image`` (pHash of the attacked image + search) end to end.
4. Times ``reserve`` + ``commit`` one record at a time (synchronous=FULL, the default).
5. Runs several writer processes against the same file and counts distinct serials.

It prints one JSON object with the numbers. Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"


def _real_images(limit: int) -> list[Path]:
    folders = sorted(p for p in DATA.iterdir() if p.is_dir())
    per = max(1, limit // len(folders))
    out: list[Path] = []
    for folder in folders:
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in {".jpg", ".png", ".webp"})
        out += files[:per]
    return out[:limit]


def _attacked(image: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=70)
    small = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return small.resize((max(1, small.width // 2), max(1, small.height // 2)), Image.BILINEAR)


def _percentiles(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def _writer(path: str, worker: int, count: int, queue: object) -> None:
    from synthmark.registry.sqlite import SqliteRegistry

    reg = SqliteRegistry(path)
    serials = []
    for i in range(count):
        serial = reg.reserve(model_id=f"writer-{worker}")
        digest = hashlib.sha256(f"w{worker}-{i}".encode()).hexdigest()
        reg.commit(serial, sha256=digest, phash=(worker << 40) | i)
        serials.append(serial)
    reg.close()
    queue.put(serials)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=200, help="real images to plant and query")
    parser.add_argument("--queries", type=int, default=200, help="random (miss) queries")
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes")
    parser.add_argument("--keep", type=Path, default=None, help="keep the registry here")
    args = parser.parse_args()

    from synthmark.registry import GenerationRecord, RecordStatus
    from synthmark.registry.phash import phash_hex, phash_image
    from synthmark.registry.sqlite import SqliteRegistry

    rng = np.random.default_rng(0)
    result: dict[str, object] = {"records": args.records, "radius": args.radius}

    # 1. real hashes and per-bit rates
    t0 = time.perf_counter()
    real = []
    for path in _real_images(args.real):
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        real.append((path, rgb, phash_image(rgb)))
    result["real_images"] = len(real)
    result["phash_ms_per_image"] = round(1e3 * (time.perf_counter() - t0) / len(real), 2)
    bits = np.array([[(h >> (63 - i)) & 1 for i in range(64)] for _, _, h in real], dtype=float)
    rates = bits.mean(axis=0)

    def synthetic(n: int) -> np.ndarray:
        drawn = rng.random((n, 64)) < rates
        weights = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)
        return (drawn.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)

    folder = Path(tempfile.mkdtemp(prefix="synthmark-bench-")) if args.keep is None else args.keep
    path = folder / "registry.sqlite3"
    reg = SqliteRegistry(path, synchronous="NORMAL")
    now = dt.datetime.now(dt.timezone.utc)

    # 2. fill
    def records():
        chunk = 100_000
        serial = 0
        for start in range(0, args.records, chunk):
            hashes = synthetic(min(chunk, args.records - start))
            for h in hashes:
                serial += 1
                yield GenerationRecord(
                    serial=serial,
                    status=RecordStatus.COMMITTED,
                    reserved_at=now,
                    created_at=now,
                    watermark_scheme="synthmark",
                    model_id="bench",
                    sha256=hashlib.sha256(serial.to_bytes(8, "big")).hexdigest(),
                    phash=phash_hex(int(h)),
                    manifest_id=f"urn:c2pa:bench-{serial}",
                    parameters={"steps": 20, "seed": serial},
                )
        for i, (_, _, h) in enumerate(real):
            yield GenerationRecord(
                serial=args.records + 1 + i,
                status=RecordStatus.COMMITTED,
                reserved_at=now,
                created_at=now,
                model_id="real",
                sha256=hashlib.sha256(b"real%d" % i).hexdigest(),
                phash=phash_hex(h),
            )

    t0 = time.perf_counter()
    inserted = reg.import_records(records())
    fill_s = time.perf_counter() - t0
    result["fill"] = {
        "inserted": inserted,
        "seconds": round(fill_s, 1),
        "records_per_s": round(inserted / fill_s),
        "db_mb": round(sum(f.stat().st_size for f in folder.glob("registry.sqlite3*")) / 2**20),
    }
    reg.close()

    # 3. lookups, from a freshly opened registry (cold process cache, warm OS cache)
    reg = SqliteRegistry(path)
    hits, db_ms, image_ms, candidates = 0, [], [], []
    first = reg.lookup_phash(real[0][2], args.radius)  # page in the indexes once
    del first
    for i, (_, rgb, _) in enumerate(real):
        attacked = _attacked(rgb)
        t = time.perf_counter()
        matches = reg.lookup_image(attacked, args.radius)
        image_ms.append(1e3 * (time.perf_counter() - t))
        query = phash_image(attacked)
        t = time.perf_counter()
        reg.lookup_phash(query, args.radius)
        db_ms.append(1e3 * (time.perf_counter() - t))
        candidates.append(len(reg._phash_candidates(query, args.radius)))
        hits += any(m.record.serial == args.records + 1 + i for m in matches)
    miss_ms, false_matches = [], 0
    for h in synthetic(args.queries):
        t = time.perf_counter()
        found = reg.lookup_phash(int(h), args.radius)
        miss_ms.append(1e3 * (time.perf_counter() - t))
        false_matches += len(found)
    result["lookup_after_jpeg70_resize05"] = {
        "found_own_record": f"{hits}/{len(real)}",
        "lookup_phash": _percentiles(db_ms),
        "lookup_image_incl_phash": _percentiles(image_ms),
        "candidates_checked_mean": round(statistics.fmean(candidates)),
    }
    result["lookup_random_hash"] = {
        "lookup_phash": _percentiles(miss_ms),
        "matches_within_radius": false_matches,
        "note": "random hashes drawn like the records: matches are synthetic near-collisions",
    }

    # 4. write throughput, one record per transaction
    data = io.BytesIO()
    real[0][1].resize((64, 64)).save(data, format="PNG")
    t0 = time.perf_counter()
    for _ in range(args.commits):
        serial = reg.reserve(model_id="bench")
        reg.commit(serial, sha256=hashlib.sha256(b"%d" % serial).hexdigest(), phash=real[0][2])
    commit_s = time.perf_counter() - t0
    result["reserve_commit"] = {
        "n": args.commits,
        "ms_per_record": round(1e3 * commit_s / args.commits, 2),
        "synchronous": "FULL",
    }
    reg.close()

    # 5. concurrent writers: several processes reserve + commit into the same file
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(path), w, args.commits, queue))
        for w in range(args.writers)
    ]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    serials = [s for _ in procs for s in queue.get(timeout=600)]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    result["concurrent_writers"] = {
        "processes": args.writers,
        "records": len(serials),
        "distinct_serials": len(set(serials)),
        "records_per_s_incl_process_start": round(len(serials) / wall),
    }
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    result["registry"] = str(path)
    print(json.dumps(result, indent=2))
    if args.keep is None:
        for f in folder.glob("registry.sqlite3*"):
            f.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
