"""``synthmark demo`` (what ``make run`` runs) on built-in defaults only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app

pytestmark = pytest.mark.timeout(300)


def test_demo_generates_strips_and_screens(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "demo", "-n", "2",
                                      "-o", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    records = {Path(r["path"]).name: r for r in map(json.loads, result.stdout.splitlines())}
    generated = [r for n, r in records.items() if n.startswith("synthmark-")]
    assert len(generated) == 2
    assert all(r["verdict"] == "synthetic" for r in generated)
    stripped = records["stripped-copy.jpg"]
    assert stripped["verdict"] == "synthetic"
    assert stripped["layers"]["c2pa"]["present"] is False
    assert stripped["layers"]["watermarks"]["synthmark"]["status"] == "present"
    photos = [r for n, r in records.items() if n.split(".")[0] in
              ("astronaut", "chelsea", "coffee", "rocket")]
    assert len(photos) == 4
    assert all(r["verdict"] != "synthetic" for r in photos)
    assert all("detector" in r["layers"] for r in photos)
