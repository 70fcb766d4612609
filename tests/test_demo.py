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


def test_demo_reruns_but_never_deletes_files_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["--home", str(tmp_path / "home"), "demo", "-n", "1", "-o", str(out), "--no-detector"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "not run" in first.stdout  # the detector column says it was switched off
    (out / ".synthmark-demo").unlink()  # a demo folder from before the manifest existed
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in (out / "photos").iterdir()) == sorted(
        p.name for p in (out / "photos").iterdir() if p.suffix in (".png", ".jpg")
    )
    mine = out / "generated" / "mine.png"
    mine.write_bytes(b"the user's own file")
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "did not write" in refused.output and "mine.png" in refused.output
    assert mine.read_bytes() == b"the user's own file"
    assert any((out / "generated").glob("synthmark-*.png"))  # nothing deleted either


def test_demo_draws_another_seed_when_a_mark_does_not_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthmark.demo import run_demo
    from synthmark.errors import WatermarkError
    from synthmark.labelling import core as labelling_core
    from synthmark.settings import Settings

    real_embed = labelling_core.embed_checked
    calls = {"n": 0}

    def first_fails(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise WatermarkError("the synthmark watermark did not read back (test)")
        return real_embed(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(labelling_core, "embed_checked", first_fails)
    messages: list[str] = []
    result = run_demo(
        Settings(home=tmp_path / "home"),
        tmp_path / "demo",
        count=2,
        use_detector=False,
        notify=messages.append,
    )
    assert len(result.generated) == 2 and all(p.exists() for p in result.generated)
    assert any("seed 0 refused" in m for m in messages)
    assert len(list((tmp_path / "demo" / "generated").glob("synthmark-*.png"))) == 2
