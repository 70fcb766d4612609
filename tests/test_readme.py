"""The README: short, its links resolve, and its example output is what the tour prints."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.samples import sample_photos

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"<!-- tour-output: begin -->\n```text\n(.*?)```\n<!-- tour-output: end -->", re.S
)


def normalise(text: str) -> str:
    """Blank what changes from run to run, keeping each field's width (so the table wraps
    the same): dates, and false-positive bounds (they depend on the random key)."""
    text = re.sub(r"\d{4}-\d\d-\d\d", "YYYY-MM-DD", text)
    text = re.sub(r"\d\.\de-\d\d", "N.Ne-NN", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def run_tour(folder: Path) -> str:
    """The README's quick start, in order, in a fresh home: what `screen` prints."""
    runner = CliRunner()
    env = {"SYNTHMARK_HOME": str(folder / "home"), "COLUMNS": "100", "SYNTHMARK_PROVIDER": None}
    photo = next(p for p in sample_photos() if p.name == "rocket.jpg")
    shutil.copyfile(photo, folder / "photo.jpg")
    steps = [
        ["keys", "init"],
        ["generate", "a lighthouse at dusk", "-o", "out/"],
        ["screen", "out/", "photo.jpg"],
    ]
    result = None
    for step in steps:
        result = runner.invoke(app, step, env=env)
        assert result.exit_code == 0, (step, result.output)
    assert result is not None
    return result.stdout


def test_readme_is_short_and_its_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert "runs anywhere in seconds" not in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def test_readme_tour_output_is_what_the_tour_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no tour-output block"
    monkeypatch.chdir(tmp_path)
    printed = run_tour(tmp_path)
    assert normalise(printed) == normalise(match.group(1))


if __name__ == "__main__":  # print the block for the README: python -m tests.test_readme
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.chdir(tmp)
        print(run_tour(Path(tmp)))
