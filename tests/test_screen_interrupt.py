"""Ctrl-C during a batch: the workers stop at once, and the user is told how to go on."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from synthmark.imaging import InputItem
from synthmark.screen.batch import run_batch
from synthmark.settings import Settings
from synthmark.watermark.keys import create_key
from tests import hostile

pytestmark = pytest.mark.timeout(120)


class SlowScreener:
    """Takes a while per file, as a detector on a large image does."""

    def screen_path(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        time.sleep(0.3)
        return {"path": str(path), "verdict": "no_evidence", "score": 0.0, "reasons": []}


def slow_factory() -> SlowScreener:
    return SlowScreener()


def test_an_interrupted_batch_ends_its_workers_at_once(tmp_path: Path) -> None:
    items = [InputItem(tmp_path / f"f{i:03d}.png") for i in range(60)]

    def interrupt(record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    earlier = set(multiprocessing.active_children())  # other tests' processes are not ours
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_batch(items, slow_factory, workers=2, on_record=interrupt)
    elapsed = time.perf_counter() - started
    # The queue (60 files x 0.3 s on 2 workers, 9 s) is dropped, not worked off first.
    assert [p for p in multiprocessing.active_children() if p not in earlier] == []
    assert elapsed < 6, elapsed


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(160):
        hostile.photo_like((512, 512), seed=i).save(folder / f"p{i:03d}.png")
    out = tmp_path / "results.jsonl"
    env = {**os.environ, "SYNTHMARK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    # With a key every file gets a watermark read (about 0.1 s at 512 px), so the batch lasts
    # seconds: without one, 160 files could all be done before the signal arrives.
    create_key(Settings.from_env(environ=env))
    command = [sys.executable, "-m", "synthmark", "screen", str(folder), "--no-detector",
               "--workers", "2", "-o", str(out)]
    proc = subprocess.Popen(command, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not (out.exists() and out.read_bytes().count(b"\n") >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    text = " ".join(err.decode().split())
    assert "Interrupted after" in text and "rerun the same command with --resume" in text
    assert "Traceback" not in text
    done = out.read_text().splitlines()
    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert len(done) < 160 and sorted(paths) == sorted(str(p) for p in folder.glob("*.png"))


class ThreadCounter:
    """Reports the thread pools a worker's detector would run with."""

    def screen_path(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        import torch

        return {"path": str(path), "torch_threads": torch.get_num_threads(),
                "omp": os.environ.get("OMP_NUM_THREADS")}


def torch_factory() -> ThreadCounter:
    import torch  # loaded by the factory, as the detector is

    torch.zeros(1)
    return ThreadCounter()


def test_each_worker_process_runs_torch_on_one_thread(tmp_path: Path) -> None:
    items = [InputItem(tmp_path / f"f{i}.png") for i in range(4)]
    records: list[dict[str, Any]] = []
    run_batch(items, torch_factory, workers=2, on_record=records.append)
    assert [r["torch_threads"] for r in records] == [1] * 4
    assert {r["omp"] for r in records} == {"1"}
