"""Screening: verdicts on each kind of evidence, --fail-on, --resume, workers, bad files."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.labels import Labeller, LabelRequest, load_credentials
from synthmark.labels.xmp import XmpFields, build_xmp
from synthmark.samples import sample_photos
from synthmark.settings import Settings
from tests import hostile

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A home with keys and a registry, and a folder with one file per kind of evidence."""
    home = tmp_path_factory.mktemp("screen-home")
    folder = tmp_path_factory.mktemp("screen-files")
    env = {"SYNTHMARK_HOME": str(home)}
    made = runner.invoke(
        app, ["generate", "a pear", "-n", "2", "-o", str(folder / "gen"), "--json"], env=env
    )
    assert made.exit_code == 0, made.output
    first, second = (Path(r["path"]) for r in _lines(made.stdout))
    # 1. the generated file itself: C2PA + watermark + registry
    shutil.copyfile(first, folder / "generated.png")
    # 2. pixels only, JPEG q75: the watermark and the registry must carry it
    with Image.open(second) as im:
        pixels = im.convert("RGB")
    buf = io.BytesIO()
    pixels.save(buf, format="JPEG", quality=75)
    (folder / "stripped.jpg").write_bytes(buf.getvalue())
    # 3. a real photo, no marks
    photo = sample_photos()[0]
    shutil.copyfile(photo, folder / f"photo{photo.suffix}")
    # 4. an unsigned XMP label only (on a real photo: nothing else points to AI)
    with Image.open(sample_photos()[1]) as im:
        rgb = im.convert("RGB")
    xmp = build_xmp(
        XmpFields(
            digital_source_type=AI,
            credit="Made with AI",
            creator_tool="another tool",
            created=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        )
    )
    rgb.save(folder / "xmp_only.jpg", format="JPEG", quality=92, xmp=xmp)
    # 5. a signed manifest on a photo, then one byte of the JPEG scan changed: invalid
    with Labeller(load_credentials(Settings(home=home))) as labeller:
        signed = labeller.apply(rgb, "JPEG", LabelRequest(model_id="external-model"))
    data = bytearray(signed.data)
    data[len(data) - 200] ^= 0x01  # inside the entropy-coded scan, before EOI
    (folder / "tampered.jpg").write_bytes(bytes(data))
    # 6. a file that is not an image
    (folder / "broken.png").write_bytes(b"not an image at all")
    shutil.rmtree(folder / "gen")
    return home, folder


def _screen(home: Path, *args: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    result = runner.invoke(
        app, ["screen", *args, "--json", "--no-detector"], env={"SYNTHMARK_HOME": str(home)}
    )
    return result.exit_code, _lines(result.stdout)


def test_verdict_for_each_kind_of_evidence(corpus) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    code, records = _screen(home, str(folder))
    assert code == 0
    by_name = {Path(r["path"]).name: r for r in records}
    assert set(by_name) >= {
        "generated.png",
        "stripped.jpg",
        "xmp_only.jpg",
        "tampered.jpg",
        "broken.png",
    }
    generated = by_name["generated.png"]
    assert generated["verdict"] == "synthetic" and generated["score"] >= 0.99
    assert any("C2PA manifest" in r for r in generated["reasons"])
    stripped = by_name["stripped.jpg"]
    assert stripped["verdict"] == "synthetic"
    assert any("watermark found" in r for r in stripped["reasons"])
    assert stripped["layers"]["c2pa"]["present"] is False
    photo = next(r for n, r in by_name.items() if n.startswith("photo"))
    assert photo["verdict"] == "no_evidence"
    assert "does not prove" in photo["reasons"][-1]
    xmp_only = by_name["xmp_only.jpg"]
    assert xmp_only["verdict"] == "likely_synthetic"
    assert any("XMP" in r for r in xmp_only["reasons"])
    tampered = by_name["tampered.jpg"]
    assert tampered["layers"]["c2pa"]["validation_state"] == "Invalid"
    assert tampered["verdict"] == "likely_synthetic"
    assert any("fails validation" in r for r in tampered["reasons"])
    assert "error" in by_name["broken.png"] and "verdict" not in by_name["broken.png"]


def test_fail_on_sets_the_exit_code(corpus) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    photo = next(folder.glob("photo*"))
    assert _screen(home, str(photo), "--fail-on", "likely_synthetic")[0] == 0
    assert _screen(home, str(folder / "xmp_only.jpg"), "--fail-on", "synthetic")[0] == 0
    assert _screen(home, str(folder / "xmp_only.jpg"), "--fail-on", "likely_synthetic")[0] == 3
    assert _screen(home, str(folder / "stripped.jpg"), "--fail-on", "synthetic")[0] == 3


def test_resume_skips_what_is_recorded_and_drops_a_torn_line(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    out = tmp_path / "results.jsonl"
    first = sorted(p for p in folder.iterdir())[:2]
    code, _ = _screen(home, *map(str, first), "-o", str(out))
    assert code == 0 and len(out.read_text().splitlines()) == 2
    with out.open("a") as fh:
        fh.write('{"path": "half-written')  # a crash mid-line
    code, records = _screen(home, str(folder), "-o", str(out), "--resume")
    assert code == 0
    assert {Path(r["path"]).name for r in records}.isdisjoint({p.name for p in first})
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    paths = [r["path"] for r in lines]
    assert len(paths) == len(set(paths)) == len(list(folder.iterdir()))


def test_workers_give_the_same_records(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    _, single = _screen(home, str(folder))
    _, parallel = _screen(home, str(folder), "--workers", "2")
    assert single == parallel


def test_csv_and_stdin(corpus) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    listing = "\n".join(str(p) for p in sorted(folder.iterdir())) + "\n"
    result = runner.invoke(
        app,
        ["screen", "-", "--csv", "--no-detector"],
        input=listing,
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert result.exit_code == 0
    rows = result.stdout.strip().splitlines()
    assert rows[0] == "path,verdict,score,reasons,error"
    assert len(rows) == 1 + len(listing.split())


def test_hostile_corpus_gives_results_or_per_file_errors(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, _ = corpus
    files = hostile.build_corpus(tmp_path / "hostile")
    result = runner.invoke(app, ["screen", str(tmp_path / "hostile"), "--json"],
                           env={"SYNTHMARK_HOME": str(home)})  # every layer, detector included
    code, records = result.exit_code, _lines(result.stdout)
    assert code == 0
    by_name = {Path(r["path"]).name: r for r in records}
    for name, (path, readable) in files.items():
        record = by_name[path.name]
        if readable:
            assert record.get("verdict") in ("synthetic", "likely_synthetic", "no_evidence"), name
        else:
            assert record.get("error"), name


def test_output_is_appended_to_never_truncated(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    out = tmp_path / "results.jsonl"
    earlier = {"path": "earlier.png", "verdict": "no_evidence", "score": 0.0, "reasons": []}
    out.write_text(json.dumps(earlier) + "\n")
    code, _ = _screen(home, str(folder / "stripped.jpg"), "-o", str(out))
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0] == earlier
    assert [Path(r["path"]).name for r in lines[1:]] == ["stripped.jpg"]


def test_output_that_is_not_json_lines_is_refused(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    photo = tmp_path / "o.png"
    shutil.copyfile(folder / "generated.png", photo)
    before = photo.read_bytes()
    result = runner.invoke(
        app,
        ["screen", str(folder / "stripped.jpg"), "-o", str(photo), "--json", "--no-detector"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert result.exit_code in (1, 2)
    assert "o.png" in result.output and "not a JSON Lines file" in result.output
    assert result.stdout.strip() == ""  # nothing was screened
    assert photo.read_bytes() == before


def test_resume_counts_recorded_verdicts_for_fail_on(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    out = tmp_path / "results.jsonl"
    stripped, photo = str(folder / "stripped.jpg"), str(next(folder.glob("photo*")))
    assert _screen(home, stripped, "-o", str(out), "--fail-on", "synthetic")[0] == 3
    code, records = _screen(home, stripped, photo, "-o", str(out), "--resume",
                            "--fail-on", "synthetic")
    assert [r["path"] for r in records] == [photo]  # stripped.jpg was skipped ...
    assert code == 3  # ... but its recorded verdict still counts
    # a recorded verdict for a file that was not asked for does not count
    assert _screen(home, photo, "-o", str(out), "--resume", "--fail-on", "synthetic")[0] == 0


def test_missing_model_is_refused_before_screening(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    missing = tmp_path / "no-such-model"
    result = runner.invoke(
        app,
        ["screen", str(folder / "stripped.jpg"), "--model", str(missing), "--json"],
        env={"SYNTHMARK_HOME": str(home), "COLUMNS": "1000"},  # the whole path on one line
    )
    assert result.exit_code == 2  # a usage error, like a --model that is not a detector
    assert "no-such-model" in result.output and "does not exist" in result.output
    assert result.stdout.strip() == ""


def test_file_name_that_is_not_utf8_is_written_as_valid_json(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    odd = hostile.write(folder / "\udcff\udcfe.png", hostile.png_bytes(hostile.photo_like()))
    good = hostile.write(folder / "good.png", hostile.png_bytes(hostile.photo_like(seed=1)))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["screen", str(folder), "-o", str(out), "--json", "--no-detector"])
    assert result.exit_code == 0, result.output
    for raw in (out.read_bytes(), result.stdout_bytes):
        records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # strict UTF-8
        assert {r["path"] for r in records} == {str(odd), str(good)}
        assert all("verdict" in r for r in records)


def test_resume_matches_the_absolute_path(corpus, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home, folder = corpus
    (tmp_path / "sub").mkdir()
    shutil.copyfile(folder / "stripped.jpg", tmp_path / "sub" / "stripped.jpg")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results.jsonl"
    code, records = _screen(home, "sub", "-o", str(out))
    assert code == 0 and [r["path"] for r in records] == [str(Path("sub") / "stripped.jpg")]
    code, records = _screen(home, str(tmp_path / "sub"), "-o", str(out), "--resume")
    assert code == 0 and records == []
    assert len(out.read_text().splitlines()) == 1
