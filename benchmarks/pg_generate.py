"""Many generation workers, one PostgreSQL registry: no serial lost or duplicated.

Run from the project root (Debian's PostgreSQL binaries installed; the ``postgres`` extra):

    .venv/bin/python benchmarks/pg_generate.py [--processes 8] [--records 2000]

Starts a throwaway PostgreSQL server on a loopback port (durable: fsync on), then starts
``--processes`` separate ``synthmark generate --model tiny`` processes at once, all with
``SYNTHMARK_REGISTRY`` pointing at that server and the same home folder (one watermark key,
one signing CA). Together they make ``--records`` images. It then checks the registry: the
number of committed records, distinct serials, duplicates, the serials each process reported
against the database, and insert throughput. Prints one JSON object.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.pg_server, the throwaway server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)

    from tests.pg_server import PgServer

    from synthmark.registry import open_registry

    per_process = [args.records // args.processes + (i < args.records % args.processes)
                   for i in range(args.processes)]
    with tempfile.TemporaryDirectory() as tmp_name, PgServer(durable=True) as server:
        tmp = Path(tmp_name)
        url = server.create_database("synthmark_bench")
        home = tmp / "home"
        env = {**os.environ, "SYNTHMARK_HOME": str(home), "SYNTHMARK_REGISTRY": url,
               "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        # keys and CA once, before the workers race for them
        subprocess.run([sys.executable, "-m", "synthmark", "--quiet", "generate", "warm-up",
                        "-o", str(tmp / "warm"), "--steps", "1"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with open_registry(url) as registry:
            baseline = registry.count()
        start = time.perf_counter()
        workers = []
        for i, count in enumerate(per_process):
            log = (tmp / f"worker-{i}.jsonl").open("w")
            workers.append((subprocess.Popen(
                [sys.executable, "-m", "synthmark", "--quiet", "generate", f"worker {i}",
                 "-n", str(count), "--seed", str(i * 100_000), "--steps", "2",
                 "--width", str(args.size), "--height", str(args.size),
                 "-o", str(tmp / f"out-{i}"), "--json"], env=env, stdout=log), log))
        codes = []
        for proc, log in workers:
            codes.append(proc.wait())
            log.close()
        wall = time.perf_counter() - start
        reported = [json.loads(line)["serial"] for i in range(args.processes)
                    for line in (tmp / f"worker-{i}.jsonl").read_text().splitlines()]
        with open_registry(url) as registry:
            stored = [r for r in registry.iter_records() if r.serial not in range(baseline + 1)]
            committed = [r.serial for r in stored if r.status.value == "committed"]
        files = sum(len(list((tmp / f"out-{i}").glob("*.png"))) for i in range(args.processes))
    report = {
        "processes": args.processes,
        "exit_codes": codes,
        "records_asked": args.records,
        "records_reported_by_workers": len(reported),
        "records_committed": len(committed),
        "files_written": files,
        "distinct_serials": len(set(committed)),
        "duplicated_serials": len(committed) - len(set(committed)),
        "lost": len(set(reported) - set(committed)),
        "unreported_in_db": len(set(committed) - set(reported)),
        "wall_seconds": round(wall, 1),
        "records_per_second_end_to_end": round(len(committed) / wall, 1),
        "image_size": f"{args.size}x{args.size}",
        "cpu_count": os.cpu_count(),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
