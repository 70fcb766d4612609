"""Generation workers sharing one PostgreSQL registry (a real local server, no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthmark.registry import open_registry
from synthmark.settings import Settings
from synthmark.watermark.keys import create_key

pytestmark = [pytest.mark.timeout(300), pytest.mark.postgres]


def test_parallel_generators_share_serials_without_loss(pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "SYNTHMARK_HOME": str(tmp_path / "home"), "SYNTHMARK_REGISTRY": pg_url,
           "OMP_NUM_THREADS": "1"}
    # The key is made here, not in a subprocess, so that it is the same on every run
    # (tests/conftest.py: reproducible_watermark_keys).
    create_key(Settings(home=tmp_path / "home"))
    base = [sys.executable, "-m", "synthmark", "--quiet", "generate"]
    subprocess.run([*base, "keys first", "-o", str(tmp_path / "w"), "--steps", "1"], env=env,
                   check=True, capture_output=True)
    workers = [
        subprocess.Popen([*base, f"worker {i}", "-n", "3", "--seed", str(10 * i), "--steps", "1",
                          "-o", str(tmp_path / f"out{i}"), "--json"], env=env,
                         stdout=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    reported = []
    for proc in workers:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0
        reported += [json.loads(line)["serial"] for line in out.splitlines()]
    with open_registry(pg_url) as registry:
        committed = [r.serial for r in registry.iter_records() if r.status.value == "committed"]
    assert len(reported) == len(set(reported)) == 9
    assert set(reported) <= set(committed)
    assert len(committed) == len(set(committed)) == 10  # + the first run's image
