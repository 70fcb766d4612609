"""Service load: 500 uploads of 512x512 images, 8 at a time, against `synthmark serve`.

Run from the project root:

    .venv/bin/python benchmarks/service_load.py [--requests 500] [--parallel 8]

Starts ``synthmark serve`` in a subprocess on a loopback port with every layer on (a
watermark key and a registry in its home folder, the detector included) and warms it up.
Then it sends the requests from a thread pool and reports errors, latency percentiles,
throughput and the server's resident memory (after the warm-up, after 20% and 60% of the
requests, and at the end). Last it sends the hostile corpus from ``tests/hostile.py`` and
checks that the service stays up, under 2 GB, and leaves no file in the temporary folder.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"
sys.path.insert(0, str(ROOT))  # for tests.hostile, the corpus builder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _images(n: int) -> list[bytes]:
    photos = sorted((DATA / "real_unsplash_men").glob("*.jpg"))[:n] or []
    out = []
    for i in range(n):
        if photos:
            with Image.open(photos[i % len(photos)]) as im:
                rgb = im.convert("RGB").resize((512, 512))
        else:
            rng = np.random.default_rng(i)
            rgb = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
        buf = io.BytesIO()
        rgb.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _tmp_files() -> set[str]:
    return {str(p) for p in Path(tempfile.gettempdir()).iterdir()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2, help="server-side slots")
    args = parser.parse_args(argv)

    port = _free_port()
    home = tempfile.mkdtemp(prefix="synthmark-load-")
    env = {**os.environ, "SYNTHMARK_HOME": home, "HF_HUB_OFFLINE": "1"}
    env.pop("SYNTHMARK_API_TOKEN", None)
    # every layer on: a watermark key and a registry in the home folder
    subprocess.run([sys.executable, "-m", "synthmark", "--quiet", "watermark", "keygen"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    from synthmark.registry import open_registry
    from synthmark.settings import Settings

    open_registry(Settings(home=Path(home))).close()
    before_tmp = _tmp_files()
    server = subprocess.Popen(
        [sys.executable, "-m", "synthmark", "--quiet", "serve", "--port", str(port),
         "--concurrency", str(args.concurrency)], env=env)
    url = f"http://127.0.0.1:{port}"
    proc = psutil.Process(server.pid)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        bodies = _images(50)
        with httpx.Client(timeout=60) as client:
            for body in bodies[:10]:  # warm-up
                client.post(url + "/v1/screen", files={"file": ("w.png", body, "image/png")})
        rss_warm = proc.memory_info().rss
        latencies: list[float] = []
        statuses: list[int] = []
        rss_marks: list[int] = []

        def send(i: int) -> None:
            with httpx.Client(timeout=120) as client:
                t0 = time.perf_counter()
                r = client.post(url + "/v1/screen",
                                files={"file": (f"{i}.png", bodies[i % len(bodies)], "image/png")})
                latencies.append(time.perf_counter() - t0)
                statuses.append(r.status_code)
            if i in (args.requests // 5, 3 * args.requests // 5):
                rss_marks.append(proc.memory_info().rss)

        start = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(send, range(args.requests)))
        wall = time.perf_counter() - start
        rss_end = proc.memory_info().rss

        from tests import hostile

        with tempfile.TemporaryDirectory() as corpus_dir:
            corpus = hostile.build_corpus(Path(corpus_dir))
            hostile_status: dict[str, int] = {}
            with httpx.Client(timeout=120) as client:
                for name, (path, _) in corpus.items():
                    r = client.post(url + "/v1/screen", files={"file": (path.name,
                                                                        path.read_bytes())})
                    hostile_status[name] = r.status_code
                alive = client.get(url + "/healthz").status_code == 200
            rss_after_hostile = proc.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)
    leftover = sorted(p for p in _tmp_files() - before_tmp if "synthmark-load-" not in p)
    ordered = sorted(latencies)
    report = {
        "requests": args.requests,
        "parallel_clients": args.parallel,
        "server_concurrency": args.concurrency,
        "errors": sum(1 for s in statuses if s != 200),
        "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "throughput_rps": round(args.requests / wall, 2),
        "latency_ms": {
            "p50": round(1000 * statistics.median(ordered), 1),
            "p95": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
            "max": round(1000 * ordered[-1], 1),
        },
        "rss_mb": {
            "after_warmup": round(rss_warm / 2**20, 1),
            "after_20pct": round(rss_marks[0] / 2**20, 1) if rss_marks else None,
            "after_60pct": round(rss_marks[1] / 2**20, 1) if len(rss_marks) > 1 else None,
            "end": round(rss_end / 2**20, 1),
            "after_hostile_corpus": round(rss_after_hostile / 2**20, 1),
        },
        "hostile_files": len(hostile_status),
        "hostile_status_counts": {str(s): list(hostile_status.values()).count(s)
                                  for s in sorted(set(hostile_status.values()))},
        "alive_after_hostile": alive,
        "temp_files_left": leftover,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
