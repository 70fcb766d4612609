"""Ray against the local backend: same records, throughput, and resuming after a kill.

Run from the project root (the ``ray`` extra installed):

    .venv/bin/python benchmarks/ray_screen.py [--n 2000] [--workers 2] [--no-detector]

1. Writes N PNG files (256x256 crops of real photos and SD images from
   ``../shared/data/detector``, plus one corrupt file) into a temporary folder, and a
   watermark key and a registry into a temporary home, so that every layer runs.
2. Screens them with the local backend (``--workers`` processes) and with Ray
   (``ray.init()`` on this machine), timing both, and compares the records path by path.
3. Starts the Ray job again on a fresh output, kills it (SIGKILL to its process group) when
   about half the records are written, reruns it, and checks every file is there once.

Prints one JSON object. Targets: identical records; Ray >= 80% of the local throughput;
every file exactly once after the kill and rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"


def make_files(folder: Path, n: int, side: int) -> None:
    sources = sorted(p for p in DATA.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".webp"))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n - 1):
        with Image.open(sources[i % len(sources)]) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        x = (i * 37) % max(1, w - side)
        y = (i * 53) % max(1, h - side)
        rgb.crop((x, y, x + side, y + side)).save(folder / f"img-{i:05d}.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def records(path: Path) -> dict[str, str]:
    return {json.loads(line)["path"]: line for line in path.read_text().splitlines()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--no-detector", dest="detector", action="store_false",
                        help="leave the detector layer out")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = tmp / "files"
        make_files(files, args.n, args.side)
        env = {**os.environ, "SYNTHMARK_HOME": str(tmp / "home"), "HF_HUB_OFFLINE": "1"}
        # every layer on: a watermark key and a registry in the home folder
        subprocess.run([sys.executable, "-m", "synthmark", "--quiet", "watermark", "keygen"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        from synthmark.registry import open_registry
        from synthmark.settings import Settings

        open_registry(Settings(home=tmp / "home")).close()
        base = [sys.executable, "-m", "synthmark", "--quiet", "screen", str(files)]
        if not args.detector:
            base.append("--no-detector")
        local_out, ray_out, kill_out = tmp / "local.jsonl", tmp / "ray.jsonl", tmp / "kill.jsonl"
        t_local = run([*base, "--workers", str(args.workers), "-o", str(local_out)], env)
        t_ray = run([*base, "--backend", "ray", "-o", str(ray_out)], env)
        local, ray = records(local_out), records(ray_out)
        mismatched = [p for p in local if local[p] != ray.get(p)]

        job = subprocess.Popen([*base, "--backend", "ray", "-o", str(kill_out)], env=env,
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        while job.poll() is None:
            if kill_out.exists() and len(kill_out.read_bytes().splitlines()) >= args.n // 2:
                break
            time.sleep(0.05)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        before_rerun = len(kill_out.read_bytes().splitlines())
        run([*base, "--backend", "ray", "-o", str(kill_out)], env)
        paths = [json.loads(line)["path"] for line in kill_out.read_text().splitlines()]
    report = {
        "files": args.n,
        "image_side": args.side,
        "detector": args.detector,
        "local_seconds": round(t_local, 1),
        "ray_seconds": round(t_ray, 1),
        "local_files_per_second": round(args.n / t_local, 1),
        "ray_files_per_second": round(args.n / t_ray, 1),
        "ray_over_local_throughput": round(t_local / t_ray, 3),
        "identical_records": not mismatched and set(local) == set(ray),
        "mismatched": mismatched[:5],
        "kill": {"records_when_killed": before_rerun, "after_rerun": len(paths),
                 "distinct": len(set(paths)), "exactly_once": len(paths) == len(set(paths))
                 == args.n},
        "cpu_count": os.cpu_count(),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
