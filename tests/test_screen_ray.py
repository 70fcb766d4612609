"""Batch screening on a real local Ray cluster: same records as the local backend, Parquet
copy, per-file errors, and resuming after the job is killed halfway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from tests import hostile

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()


def _records(path: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["path"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ray-files")
    for i in range(200):
        image = hostile.photo_like((96 + i % 40, 80), seed=i)
        image.save(root / f"img-{i:03d}.png")
    (root / "corrupt.png").write_bytes(hostile.truncated(hostile.png_bytes(
        hostile.photo_like((200, 200)))))
    return root


def test_ray_gives_the_local_records_and_a_parquet_copy(folder: Path, tmp_path: Path) -> None:
    local, ray_out = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    base = ["--quiet", "screen", str(folder), "--no-detector"]
    first = runner.invoke(app, [*base, "-o", str(local), "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*base, "--backend", "ray", "-o", str(ray_out)])
    assert second.exit_code == 0, second.output
    assert _records(ray_out) == _records(local)
    assert "error" in _records(ray_out)[str(folder / "corrupt.png")]
    import pyarrow.parquet as pq

    table = pq.read_table(ray_out.with_suffix(".parquet"))
    assert table.num_rows == 201
    assert set(table.column("path").to_pylist()) == set(_records(local))


def test_killed_job_resumes_with_every_file_exactly_once(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray.jsonl"
    command = [sys.executable, "-m", "synthmark", "--quiet", "screen", str(folder),
               "--no-detector", "--backend", "ray", "-o", str(out)]
    env = {**os.environ, "SYNTHMARK_HOME": str(tmp_path / "home")}
    job = subprocess.Popen(command, env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= 5:
            break
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    done_before = len(out.read_bytes().splitlines())
    assert 0 < done_before < 201, "the job should have been killed halfway"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert len(paths) == len(set(paths)) == 201
