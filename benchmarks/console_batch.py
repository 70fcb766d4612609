"""The console's targets: one drop of 20 images of 512 px, timed against the CLI.

Run from the project root (needs Debian's chromium and chromium-driver):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/console_batch.py [--n 20] [--repeat 3]

1. Writes ``--n`` images of 512x512 (half Stable Diffusion class images, half real photos
   from ``../shared/data/detector``) into a temporary folder, and makes a home with a
   watermark key and a registry, so every layer runs (the detector included).
2. Times ``synthmark screen FOLDER --json --workers N`` (N = ``--workers``, by default the
   number of CPUs: what ``--workers auto`` would pick) from start to exit, ``--repeat`` times,
   and once with one image (its start-up cost: interpreter, imports, detector).
3. Starts ``synthmark serve --concurrency N`` and opens the console in headless Chromium
   (offline flags, a fresh profile). For each repeat it reloads the page, drops all the
   files at once (a real ``drop`` event carrying the files) and waits until every card has
   its answer. It reports the time from the drop to the last answer (the page's own clock
   and the driver's), the longest main-thread task while the cards came in and how late a
   20 ms timer fired at worst (the page stays responsive when both are small), the weight
   of the page's own assets as transferred, and the requests that went to any host other
   than the service (http, https, ws and ftp URLs; the browser's own chrome:// pages are
   counted apart).

Prints one JSON object; ``ratio`` is the median console time over the median CLI time
(target: at most 1.5). The machine may be shared: timings are noisy, so compare medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"
sys.path.insert(0, str(ROOT))  # for tests.browser, the offline Chromium
DROP = """
const dt = new DataTransfer();
for (const f of document.getElementById('bench-source').files) dt.items.add(f);
window.__longest = 0; window.__longTasks = 0; window.__lag = 0;
window.__longtaskSupported = PerformanceObserver.supportedEntryTypes.includes('longtask');
let last = performance.now();
window.__beat = setInterval(() => {  // how late a 20 ms timer fires: the page's lag
  const now = performance.now(); window.__lag = Math.max(window.__lag, now - last - 20); last = now;
}, 20);
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.__longTasks += 1; window.__longest = Math.max(window.__longest, e.duration);
  }
}).observe({type: 'longtask'});
const zone = document.getElementById('drop');
for (const type of ['dragenter', 'dragover', 'drop']) {
  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
}
"""
DONE = (
    "return document.querySelectorAll('.card').length === arguments[0] && "
    "!document.querySelector('.card[data-verdict=pending]')"
)


def _images(folder: Path, n: int, size: int) -> list[Path]:
    fakes = sorted((DATA / "sd15_sd21base_classimages").rglob("*.jpg"))
    reals = sorted((DATA / "real_unsplash_men").glob("*.jpg"))
    if not fakes or not reals:
        raise SystemExit(f"Error: the shared data set is missing under {DATA}")
    paths = []
    for i in range(n):
        source = (fakes if i % 2 == 0 else reals)[i // 2]
        with Image.open(source) as im:
            rgb = im.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size))
        path = folder / f"{i:02d}-{source.name}"
        rgb.save(path, format="JPEG", quality=92)
        paths.append(path)
    return paths


def _time_cli(env: dict[str, str], args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "synthmark", "--quiet", "screen", *args, "--json"],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(env: dict[str, str], concurrency: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "synthmark", "--quiet", "serve", "--port", str(port),
         "--concurrency", str(concurrency)], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("Error: the service did not start in 120 s")


def _asset_bytes(events: list[dict[str, Any]], url: str) -> int:
    """Bytes transferred for the page and its assets (not the API's answers)."""
    urls = {
        e["params"]["requestId"]: e["params"]["request"]["url"]
        for e in events if e["method"] == "Network.requestWillBeSent"
    }
    total = 0
    for e in events:
        if e["method"] == "Network.loadingFinished":
            target = urls.get(e["params"]["requestId"], "")
            if target == url + "/" or target.startswith(url + "/assets/"):
                total += int(e["params"]["encodedDataLength"])
    return total


def _one_drop(driver: Any, url: str, files: list[Path]) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from tests.browser import elsewhere, network_events, requested_urls

    network_events(driver)  # drop earlier events
    driver.get(url + "/")
    ready = "return document.body.dataset.ready === 'true'"
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(ready))
    driver.execute_script(
        "const i = document.createElement('input'); i.type = 'file'; i.multiple = true;"
        "i.id = 'bench-source'; i.hidden = true; document.body.append(i);"
    )
    driver.find_element(By.ID, "bench-source").send_keys("\n".join(str(p) for p in files))
    start = time.perf_counter()
    driver.execute_script(DROP)
    WebDriverWait(driver, 600, poll_frequency=0.02).until(
        lambda d: d.execute_script(DONE, len(files))
    )
    wall = time.perf_counter() - start
    page = driver.execute_script(
        "clearInterval(window.__beat);"
        "return [Number(document.body.dataset.lastBatchSeconds), window.__longest, "
        "window.__longTasks, document.querySelectorAll('.card[data-verdict=error]').length, "
        "window.__lag, window.__longtaskSupported]"
    )
    events = network_events(driver)
    sent = requested_urls(events)
    return {
        "driver_s": round(wall, 3),
        "asset_bytes_transferred": _asset_bytes(events, url),
        "requests": len(sent),
        "requests_to_other_hosts": elsewhere(sent, url),
        "browser_internal_loads": sum(1 for u in sent if u.startswith("chrome")),
        "page_s": page[0],
        "longest_task_ms": round(page[1], 1),
        "long_tasks": page[2],
        "longtask_observer_supported": page[5],
        "max_timer_lag_ms": round(page[4], 1),
        "error_cards": page[3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="CLI workers and service concurrency (default: CPUs)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="synthmark-console-bench-"))
    try:
        folder = work / "images"
        folder.mkdir()
        files = _images(folder, args.n, args.size)
        env = {**os.environ, "SYNTHMARK_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1"}
        env.pop("SYNTHMARK_API_TOKEN", None)
        subprocess.run([sys.executable, "-m", "synthmark", "--quiet", "watermark", "keygen"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        from synthmark.registry import open_registry
        from synthmark.settings import Settings

        open_registry(Settings(home=work / "home")).close()
        workers = ["--workers", str(args.workers)]
        cli = [_time_cli(env, [str(folder), *workers]) for _ in range(args.repeat)]
        startup = _time_cli(env, [str(files[0])])
        one_worker = _time_cli(env, [str(folder), "--workers", "1"])
        server, url = _serve(env, args.workers)
        from tests.browser import chromium

        driver = chromium(work / "profile", size="1280,1000")
        try:
            drops = [_one_drop(driver, url, files) for _ in range(args.repeat)]
        finally:
            driver.quit()
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cli_median = statistics.median(cli)
    console_median = statistics.median(d["driver_s"] for d in drops)
    static = ROOT / "src" / "synthmark" / "serve" / "static"
    report = {
        "images": args.n,
        "size_px": args.size,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cli_screen_s": [round(t, 3) for t in cli],
        "cli_one_image_s": round(startup, 3),
        "cli_workers_1_s": round(one_worker, 3),
        "console_drops": drops,
        "cli_median_s": round(cli_median, 3),
        "console_median_s": round(console_median, 3),
        "ratio": round(console_median / cli_median, 3),
        "page_assets_bytes_on_disk": sum(
            p.stat().st_size for p in static.rglob("*") if p.is_file()
        ),
        "page_assets_bytes_first_load": drops[0]["asset_bytes_transferred"],
        "requests_to_other_hosts": sum(len(d["requests_to_other_hosts"]) for d in drops),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
