"""docs/python.md: every ``python`` block runs, in order, in one folder with a fresh home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)
ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "python.md"

#: Runs each block in its own namespace, naming the block that failed.
RUNNER = """
import sys
blocks = sys.argv[1:]
for number, path in enumerate(blocks, 1):
    code = open(path, encoding="utf-8").read()
    print(f"--- block {number}", flush=True)
    exec(compile(code, f"docs/python.md block {number}", "exec"), {"__name__": "__main__"})
"""


def blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_page_has_the_promised_examples() -> None:
    found = blocks(PAGE.read_text(encoding="utf-8"))
    assert len(found) >= 6
    joined = "\n".join(found)
    for call in ("synthmark.label(", "scheme.extract(", "screen_path(", "screen_bytes(",
                 ".fit(", "load_detector("):
        assert call in joined, call


def test_every_example_runs(tmp_path: Path) -> None:
    paths = []
    for number, code in enumerate(blocks(PAGE.read_text(encoding="utf-8")), 1):
        path = tmp_path / f"block{number}.py"
        path.write_text(code, encoding="utf-8")
        paths.append(str(path))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, SYNTHMARK_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    env.pop("SYNTHMARK_REGISTRY", None)
    done = subprocess.run([sys.executable, "-c", RUNNER, *paths], cwd=work, env=env,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert f"--- block {len(paths)}" in out
    assert (work / "fox.png").is_file() and len(list((work / "batch").glob("*.jpg"))) == 2
    assert "present" in out  # the watermark read back
    assert out.count("synthetic") >= 2  # the file and its stripped copy
    assert (work / "my-detector").is_dir()
