"""PostgreSQL registry benchmark: pHash look-up at 1,000,000 records, and insert throughput.

Run from the project root (about 5-10 minutes on 2 cores; about 1 GB of disk in a
temporary folder; needs the ``postgres`` extra and Debian's PostgreSQL server packages):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/registry_postgres_bench.py [--records 1000000]

It starts a throwaway server (``tests/pg_server.py``) with durable settings (fsync and
synchronous commit on), or uses ``--url postgresql://...`` (an empty database: the
benchmark fills it). Same structure as ``registry_bench.py`` (SQLite):

1. Per-bit rates of real images' pHashes (``../shared/data/detector``); synthetic hashes
   are drawn with those rates, so the band indexes are as unevenly filled as real ones.
2. Fills the registry with N synthetic committed records plus the real images in one
   ``import_records`` (``COPY``, then ``VACUUM (ANALYZE)``, which lets the band look-ups
   run as index-only scans).
3. Times ``lookup_phash`` for the real images' hashes after JPEG q70 + resize 0.5 (each
   must find its own record), ``lookup_image`` end to end, and random hashes (misses);
   records the query plan (EXPLAIN ANALYZE) of one look-up. Then again after rewriting
   the newest ``--churn`` rows with autovacuum held off (pages not yet all-visible: the
   scans must visit the table for those rows).
4. Times ``reserve`` + ``commit`` one record at a time from one process.
5. 8 writer processes (by default) write 2,000 records between them into the filled
   registry; counts lost and duplicated serials, and the insert throughput.

It prints one JSON object. Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _load(name: str, path: Path) -> ModuleType:
    """A module from a file (works however this script is started, no sys.path edits)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_sqlite_bench = _load("registry_bench", HERE / "registry_bench.py")
_real_images = _sqlite_bench._real_images
_attacked = _sqlite_bench._attacked
_percentiles = _sqlite_bench._percentiles


def _writer(url: str, worker: int, count: int, start_at: float, queue: Any) -> None:
    from synthmark.registry import open_registry

    with open_registry(url) as reg:
        while time.time() < start_at:  # every process starts writing together
            time.sleep(0.001)
        began = time.time()
        serials = []
        for i in range(count):
            serial = reg.reserve(model_id=f"writer-{worker}")
            digest = hashlib.sha256(f"w{worker}-{i}".encode()).hexdigest()
            reg.commit(serial, sha256=digest, phash=(worker << 40) | i, parameters={"i": i})
            serials.append(serial)
        ended = time.time()
    queue.put({"serials": serials, "began": began, "ended": ended})


def _explain(url: str, query: int, radius: int) -> dict[str, Any]:
    """Plan node types and execution time of the band query for ``query``."""
    import psycopg

    from synthmark.registry.phash import band_neighbours, bands, to_signed
    from synthmark.registry.postgres import _PHASH_QUERY

    params: dict[str, Any] = {"q": to_signed(query), "r": radius}
    for i, band in enumerate(bands(query)):
        params[f"b{i}"] = band_neighbours(band, radius // 4)
    with psycopg.connect(url, autocommit=True) as conn:
        plan = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _PHASH_QUERY, params
        ).fetchone()[0][0]
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(f"{node['Node Type']}" + (f" {node['Index Name']}" if "Index Name" in node
                                               else ""))
        heap = node.get("Heap Fetches")
        if heap:
            nodes[-1] += f" (heap fetches {heap})"
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {"execution_ms": round(plan["Execution Time"], 3), "nodes": nodes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--real", type=int, default=200, help="real images to plant and query")
    parser.add_argument("--queries", type=int, default=200, help="random (miss) queries")
    parser.add_argument("--radius", type=int, default=8)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes")
    parser.add_argument("--writer-records", type=int, default=2000, help="records, all writers")
    parser.add_argument("--url", default=None, help="an empty PostgreSQL database to use")
    parser.add_argument("--churn", type=int, default=100_000,
                        help="rows rewritten (not yet vacuumed) for the second look-up run")
    args = parser.parse_args()

    server = None
    if args.url is None:
        pg_server = _load("pg_server", ROOT / "tests" / "pg_server.py")
        server = pg_server.PgServer(durable=True).start()
        url = server.create_database("synthmark_bench")
    else:
        url = args.url
    try:
        result = _run(args, url)
    finally:
        if server is not None:
            server.stop()
    result["server"] = "throwaway (tests/pg_server.py, fsync on)" if server else "--url"
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(json.dumps(result, indent=2))
    return 0


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from synthmark.registry import GenerationRecord, RecordStatus, open_registry
    from synthmark.registry.phash import phash_hex, phash_image

    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"records": args.records, "radius": args.radius}

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

    reg = open_registry(url)
    result["server_version"] = reg._connection().info.server_version
    now = dt.datetime.now(dt.timezone.utc)

    # 2. fill
    def records():
        chunk = 100_000
        serial = 0
        for start in range(0, args.records, chunk):
            for h in synthetic(min(chunk, args.records - start)):
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
    size = reg._run("SELECT pg_database_size(current_database())", read_only=True)[0][0]
    result["fill"] = {
        "inserted": inserted,
        "seconds": round(fill_s, 1),
        "records_per_s": round(inserted / fill_s),
        "note": "COPY in one transaction, then VACUUM (ANALYZE), both in import_records",
        "db_mb": round(size / 2**20),
    }
    reg.close()

    # 3. lookups, from a freshly opened registry (new connection, warm server cache)
    reg = open_registry(url)
    hits, db_ms, image_ms, candidates = 0, [], [], []
    reg.lookup_phash(real[0][2], args.radius)  # page in the indexes once
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
        "rows_returned_mean": round(statistics.fmean(candidates), 1),
        "note": "the server keeps only hashes within the radius (bit_count)",
    }
    result["lookup_random_hash"] = {
        "lookup_phash": _percentiles(miss_ms),
        "matches_within_radius": false_matches,
        "note": "random hashes drawn like the records: matches are synthetic near-collisions",
    }
    result["plan_of_one_lookup"] = _explain(url, phash_image(_attacked(real[0][1])), args.radius)

    # 3b. the same look-ups while the newest rows are not yet vacuumed: rewrite the last
    # --churn rows (what reserve + commit leave behind) with autovacuum held off
    if args.churn:
        reg._run("ALTER TABLE generations SET (autovacuum_enabled = false)")
        t0 = time.perf_counter()
        reg._run("UPDATE generations SET note = 'churn' WHERE serial > %s",
                 (args.records + len(real) - args.churn,))
        churn_s = time.perf_counter() - t0
        churn_ms = []
        for _, rgb, _ in real:
            query = phash_image(_attacked(rgb))
            t = time.perf_counter()
            reg.lookup_phash(query, args.radius)
            churn_ms.append(1e3 * (time.perf_counter() - t))
        result["lookup_with_unvacuumed_rows"] = {
            "rows_rewritten": args.churn,
            "update_s": round(churn_s, 1),
            "lookup_phash": _percentiles(churn_ms),
            "plan_of_one_lookup": _explain(url, phash_image(_attacked(real[0][1])),
                                           args.radius),
        }
        reg._run("VACUUM (ANALYZE) generations")
        reg._run("ALTER TABLE generations RESET (autovacuum_enabled)")

    # 4. insert throughput, one process, one reserve + one commit per record
    t0 = time.perf_counter()
    for _ in range(args.commits):
        serial = reg.reserve(model_id="bench")
        reg.commit(serial, sha256=hashlib.sha256(b"%d" % serial).hexdigest(), phash=real[0][2])
    commit_s = time.perf_counter() - t0
    result["reserve_commit_one_process"] = {
        "n": args.commits,
        "ms_per_record": round(1e3 * commit_s / args.commits, 2),
        "records_per_s": round(args.commits / commit_s),
        "synchronous_commit": reg._run("SHOW synchronous_commit", read_only=True)[0][0],
        "fsync": reg._run("SHOW fsync", read_only=True)[0][0],
    }
    before = reg.count()
    first_serial = reg.reserve(model_id="marker")  # serials the writers get come after it
    reg.abandon(first_serial, "benchmark marker")
    reg.close()

    # 5. concurrent writers into the filled registry
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    per = [args.writer_records // args.writers + (w < args.writer_records % args.writers)
           for w in range(args.writers)]
    start_at = time.time() + 3.0 + 0.5 * args.writers  # after every process has started
    procs = [ctx.Process(target=_writer, args=(url, w, n, start_at, queue))
             for w, n in enumerate(per)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    reports = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    serials = [s for r in reports for s in r["serials"]]
    writing_s = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    late = max(r["began"] for r in reports) - min(r["began"] for r in reports)
    with open_registry(url) as reg:
        committed = {r.serial for r in reg.iter_records("committed", batch=5000)
                     if r.serial > first_serial}
        after = reg.count()
    expected = set(range(first_serial + 1, first_serial + 1 + args.writer_records))
    result["concurrent_writers"] = {
        "processes": args.writers,
        "records": len(serials),
        "distinct_serials": len(set(serials)),
        "duplicated_serials": len(serials) - len(set(serials)),
        "lost_serials": len(expected - committed),
        "rows_added": after - before - 1,
        "serials_contiguous": sorted(serials) == sorted(expected),
        "records_per_s_while_writing": round(len(serials) / writing_s),
        "seconds_writing": round(writing_s, 2),
        "spread_of_start_s": round(late, 3),
        "records_per_s_incl_process_start": round(len(serials) / wall),
    }
    return result


if __name__ == "__main__":
    raise SystemExit(main())
