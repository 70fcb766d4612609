"""``synthmark label`` and ``synthmark.label``: what any generator made, labelled as ours."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from synthmark import __version__
from synthmark.cli.main import app
from synthmark.labels import init_local_ca, local_trust_anchor, read_labels
from synthmark.labels.containers import extract_blocks
from synthmark.labels.soft_binding import SOFT_BINDING_ALG, parse_binding_value
from synthmark.registry import open_registry
from synthmark.settings import Settings
from synthmark.watermark.keys import create_key
from tests import hostile

pytestmark = pytest.mark.timeout(300)
runner = CliRunner()
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: A sample of the shared C2PA set's valid files kept in the default suite (all: slow test).
C2PA_SAMPLE = ("sdk/tests/fixtures/CA.jpg", "cli/tests/fixtures/verify.jpeg")


def make_home(root: Path) -> Settings:
    settings = Settings(home=root)
    init_local_ca(settings)
    create_key(settings)
    return settings


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def exiftool(path: Path, *tags: str) -> dict[str, Any]:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.fail("exiftool is not installed: run scripts/system-deps.sh")
    out = subprocess.run(
        [tool, "-j", "-G1", *tags, str(path)], capture_output=True, text=True, check=True
    ).stdout
    record: dict[str, Any] = json.loads(out)[0]
    return record


def valid_c2pa_files(root: Path) -> list[Path]:
    """Every file of the shared C2PA set whose manifest validates (Valid or Trusted)."""
    return [
        p for p in sorted(root.rglob("*"))
        if p.is_file() and read_labels(p.read_bytes()).c2pa.validation_state in ("Valid", "Trusted")
    ]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    """The shared A1111 and ComfyUI files and a sample of the C2PA set, labelled once."""
    home = tmp_path_factory.mktemp("label-home")
    settings = make_home(home)
    out = tmp_path_factory.mktemp("labelled")
    prov = shared_data / "provenance"
    inputs = [prov / "a1111", prov / "comfyui_screenshots",
              *(prov / "c2pa" / p for p in C2PA_SAMPLE)]
    result = runner.invoke(
        app, ["label", *map(str, inputs), "-o", str(out), "--model", "sd-test", "--json"],
        env={"SYNTHMARK_HOME": str(home)},
    )
    assert result.exit_code == 0, result.output
    rows = {Path(r["source"]).name: r for r in json_lines(result.stdout)}
    return {"home": home, "settings": settings, "out": out, "rows": rows, "prov": prov}


def _inspect(home: Path, path: str | Path) -> dict[str, Any]:
    result = runner.invoke(app, ["inspect", str(path), "--json"], env={"SYNTHMARK_HOME": str(home)})
    assert result.exit_code == 0, result.output
    (record,) = json_lines(result.stdout)
    return record


def test_every_file_is_marked_labelled_signed_and_registered(labelled: dict[str, Any]) -> None:
    rows, home = labelled["rows"], labelled["home"]
    assert sorted(rows) == ["CA.jpg", "hiresfix_latent_workflow.png", "lora.png",
                            "sample-2.png", "sample-3.png", "sdxl_revision_text_prompts.png",
                            "verify.jpeg"]
    registry = open_registry(labelled["settings"])
    for row in rows.values():
        record = _inspect(home, row["path"])
        assert record["c2pa"]["validation_state"] == "Trusted"
        assert AI in record["c2pa"]["digital_source_types"]
        assert [a["action"] for a in record["c2pa"]["actions"]][-1] == "c2pa.watermarked"
        assert record["xmp"]["digital_source_type"] == AI
        ours = next(w for w in record["watermarks"] if w["scheme"] == "synthmark")
        assert ours["status"] == "present" and int(ours["payload"], 16) == row["serial"]
        assert row["soft_binding"]["alg"] == SOFT_BINDING_ALG
        assert parse_binding_value(row["soft_binding"]["value"]) == row["serial"].to_bytes(8, "big")
        stored = registry.get(row["serial"])
        assert stored is not None and stored.status.value == "committed"
        assert stored.sha256 == row["sha256"] and stored.manifest_id == row["manifest_id"]
        assert registry.manifest_store(row["manifest_id"])
    registry.close()


@pytest.mark.exiftool
def test_the_a1111_files_keep_their_generation_parameters(labelled: dict[str, Any]) -> None:
    """Checked with exiftool (the PNG text as written) and with inspect (as read back)."""
    for name in ("sample-2.png", "sample-3.png"):
        source = labelled["prov"] / "a1111" / name
        before = exiftool(source, "-PNG:Parameters")["PNG:Parameters"]
        after = exiftool(Path(labelled["rows"][name]["path"]), "-PNG:Parameters")["PNG:Parameters"]
        serial = labelled["rows"][name]["serial"]
        theirs = before.splitlines()[-1].replace("Model: 7th_anime_v3_A-fp16", "Model: sd-test")
        assert after.splitlines()[-1] == theirs.replace("Model hash: 5b8393ca08, ", "") + (
            f", Serial: {serial}, Generator: synthmark {__version__}"
        )  # --model replaced theirs, and the hash of theirs went with it
        assert before.splitlines()[:2] == after.splitlines()[:2]  # prompt and negative prompt
        original = read_labels(source.read_bytes()).generators[0].fields
        now = _inspect(labelled["home"], labelled["rows"][name]["path"])["generators"][0]
        assert now["tool"] == "AUTOMATIC1111"
        for key in ("prompt", "negative_prompt", "steps", "sampler", "cfg_scale", "seed", "size",
                    "ensd"):
            assert now["fields"][key] == original[key], key
        assert int(now["fields"]["serial"]) == serial


@pytest.mark.exiftool
def test_the_comfyui_files_keep_their_graphs(labelled: dict[str, Any]) -> None:
    for name in ("lora.png", "hiresfix_latent_workflow.png", "sdxl_revision_text_prompts.png"):
        source = next((labelled["prov"] / "comfyui_screenshots").rglob(name))
        before = exiftool(source, "-PNG:Prompt", "-PNG:Workflow")
        after = exiftool(Path(labelled["rows"][name]["path"]), "-PNG:Prompt", "-PNG:Workflow")
        assert after["PNG:Prompt"] == before["PNG:Prompt"]
        assert after["PNG:Workflow"] == before["PNG:Workflow"]
        meta = {g["tool"]: g for g in _inspect(labelled["home"], labelled["rows"][name]["path"])
                ["generators"]}
        assert meta["ComfyUI"]["fields"]["seeds"] == read_labels(source.read_bytes()).generators[
            0].fields["seeds"]
        assert meta["AUTOMATIC1111"]["fields"]["steps"] > 0  # our parameters read as A1111's


def test_c2pa_files_keep_their_manifest_as_parent_ingredient(labelled: dict[str, Any]) -> None:
    for rel in C2PA_SAMPLE:
        source = labelled["prov"] / "c2pa" / rel
        theirs = read_labels(source.read_bytes()).c2pa.manifest_id
        row = labelled["rows"][Path(rel).name]
        assert row["parent_manifest_id"] == theirs
        c2pa = _inspect(labelled["home"], row["path"])["c2pa"]
        head, *chain = c2pa["manifests"]
        assert head["claim_generator"].startswith("synthmark/") and head["ingredients"] == [theirs]
        assert theirs in [m["label"] for m in chain]
        assert [a["action"] for a in c2pa["actions"]] == ["c2pa.opened", "c2pa.watermarked"]


def test_the_output_format_follows_the_input_and_the_input_is_untouched(
    labelled: dict[str, Any],
) -> None:
    for name, row in labelled["rows"].items():
        assert Path(row["path"]).name == name  # same name, same suffix (.jpeg stays .jpeg)
        assert extract_blocks(Path(row["path"]).read_bytes()).format == (
            "JPEG" if name.endswith((".jpg", ".jpeg")) else "PNG"
        )
    source = labelled["prov"] / "a1111" / "sample-2.png"
    assert read_labels(source.read_bytes()).c2pa.present is False


@pytest.mark.slow
def test_every_valid_file_of_the_c2pa_set_labels_validates_and_keeps_its_manifest(
    tmp_path: Path, shared_data: Path
) -> None:
    settings = make_home(tmp_path / "home")
    files = valid_c2pa_files(shared_data / "provenance" / "c2pa")
    assert len(files) >= 20
    for index, path in enumerate(files):
        out = tmp_path / "out" / str(index)
        out.mkdir(parents=True)
        result = runner.invoke(app, ["label", str(path), "-o", str(out), "--model", "m", "--json"],
                               env={"SYNTHMARK_HOME": str(settings.home)})
        assert result.exit_code == 0, f"{path}: {result.output}"
        (row,) = json_lines(result.stdout)
        report = read_labels(Path(row["path"]).read_bytes(),
                             trust_anchors=local_trust_anchor(settings)).c2pa
        assert report.validation_state in ("Valid", "Trusted"), (path, report.failure_codes)
        ours = [s.code for s in report.validation_codes if s.scope == "active"
                and s.kind == "failure" and s.url and report.manifest_id in s.url]
        assert ours == [], (path, ours)  # our signature trusted, every assertion intact
        original = read_labels(path.read_bytes()).c2pa
        assert set(report.failure_codes) <= set(original.failure_codes), path  # none new
        assert report.manifests[0].ingredients == [original.manifest_id], path


# --- the Python API -----------------------------------------------------------------------


def test_synthmark_label_is_one_call(tmp_path: Path, synthmark_home: Path) -> None:
    import synthmark
    from synthmark.labelling import GenerationInfo

    make_home(synthmark_home)
    image = hostile.photo_like((320, 320), seed=11)
    info = GenerationInfo(model="sd-1.5", seed=42, steps=25, prompt="a red fox",
                          sampler="Euler a", cfg_scale=7.0, software="diffusers 0.31")
    result = synthmark.label(image, info, tmp_path / "fox.webp", provider="Acme")
    assert result.path == tmp_path / "fox.webp" and result.format == "WEBP"
    report = read_labels(result.path.read_bytes())
    assert report.c2pa.validation_state == "Valid"
    assert report.c2pa.manifest_id == result.manifest_id
    assert report.xmp.credit == "Made with AI (model sd-1.5, by Acme)"
    assert report.xmp.ai_prompt is None  # the prompt only on opt-in
    [params] = report.generators
    assert params.fields["seed"] == 42 and params.fields["sampler"] == "Euler a"
    again = synthmark.label(image, info, tmp_path)  # a folder: named after the serial
    assert again.path.name == f"synthmark-{again.serial:08d}.png"
    assert again.serial == result.serial + 1


def test_import_synthmark_stays_light() -> None:
    code = ("import sys, synthmark; light = 'torch' not in sys.modules and "
            "'synthmark.labelling' not in sys.modules; synthmark.label; "
            "print(light, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_generation_info_from_each_generator_kind(shared_data: Path) -> None:
    from synthmark.labelling import GenerationInfo

    a1111 = read_labels((shared_data / "provenance/a1111/sample-2.png").read_bytes())
    info = GenerationInfo.from_metadata(a1111.generators)
    assert info is not None and info.model == "7th_anime_v3_A-fp16"
    assert (info.seed, info.steps, info.cfg_scale) == (3162372422, 15, 7.0)
    assert info.software == "AUTOMATIC1111" and info.model_hash == "5b8393ca08"
    comfy = read_labels(next((shared_data / "provenance").rglob("lora.png")).read_bytes())
    info = GenerationInfo.from_metadata(comfy.generators)
    assert info is not None and info.model == "v1-5-pruned-emaonly.ckpt"
    assert (info.seed, info.steps, info.sampler) == (851616030078638, 20, "euler")
    assert GenerationInfo.from_metadata([]) is None
    with pytest.raises(ValueError, match="model must be named"):
        GenerationInfo(model=" ")


@pytest.mark.exiftool
def test_metadata_that_does_not_conflict_is_kept(tmp_path: Path, synthmark_home: Path) -> None:
    from tests.test_label_metadata import rich_jpeg

    make_home(synthmark_home)
    (tmp_path / "in").mkdir()
    src = hostile.write(tmp_path / "in" / "shot.jpg", rich_jpeg((400, 300), orientation=6))
    result = runner.invoke(app, ["label", str(src), "-o", str(tmp_path / "out"), "--model", "m",
                                 "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json_lines(result.stdout)
    tags = exiftool(Path(row["path"]), "-EXIF:Make", "-EXIF:Orientation", "-EXIF:Software",
                    "-ICC_Profile:ProfileDescription", "-XMP-dc:Title", "-XMP-xmp:CreatorTool",
                    "-File:Comment")
    assert tags["IFD0:Make"] == "Acme" and "IFD0:Orientation" not in tags
    assert tags["IFD0:Software"].startswith("synthmark")
    assert tags["ICC_Profile:ProfileDescription"] == "sRGB built-in"
    assert tags["XMP-dc:Title"] == "Harbour & boats"
    assert tags["XMP-xmp:CreatorTool"].startswith("synthmark")
    assert tags["File:Comment"] == "shot on a boat"
    assert (row["width"], row["height"]) == (300, 400)  # the rotation applied
    assert any("Orientation 6" in n for n in row["notes"])
    assert any("xmp:CreatorTool: replaced" in n for n in row["notes"])


def test_other_formats_are_written_as_png_and_format_converts(
    tmp_path: Path, synthmark_home: Path
) -> None:
    make_home(synthmark_home)
    image = hostile.photo_like((300, 300), seed=2)
    tiff = tmp_path / "in" / "scan.tif"
    tiff.parent.mkdir()
    image.save(tiff)
    png = hostile.write(tmp_path / "in" / "pic.png", hostile.png_bytes(image))
    result = runner.invoke(app, ["label", str(tiff), "-o", str(tmp_path / "a"), "-m", "m",
                                 "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json_lines(result.stdout)
    assert row["path"].endswith("scan.png") and row["format"] == "PNG"
    assert any("written as PNG" in n for n in row["notes"])
    result = runner.invoke(app, ["label", str(png), "-o", str(tmp_path / "b"), "-m", "m",
                                 "--format", "jpeg", "--json"])
    assert result.exit_code == 0, result.output
    assert json_lines(result.stdout)[0]["path"].endswith("pic.jpg")


@pytest.mark.exiftool
def test_strip_prompt_leaves_every_prompt_out(tmp_path: Path, synthmark_home: Path,
                                                   shared_data: Path) -> None:
    make_home(synthmark_home)
    prov = shared_data / "provenance"
    result = runner.invoke(app, ["label", str(prov / "a1111" / "sample-2.png"),
                                 str(next(prov.rglob("lora.png"))), "-o", str(tmp_path),
                                 "--strip-prompt", "--json"])
    assert result.exit_code == 0, result.output
    a1111, comfy = (Path(r["path"]) for r in json_lines(result.stdout))
    for path in (a1111, comfy):
        data = path.read_bytes()
        assert b"white shirt" not in data and b"masterpiece" not in data, path.name
        report = read_labels(data)
        assert report.xmp.ai_prompt is None
    tags = exiftool(a1111, "-PNG:Parameters")
    assert tags["PNG:Parameters"].startswith("Steps: 15, Sampler: DPM++ 2M Karras")
    notes = json_lines(result.stdout)[1]["notes"]
    assert any("PNG text 'prompt': it holds the prompt" in n for n in notes)
    assert "Model: v1-5-pruned-emaonly.ckpt" in exiftool(comfy, "-PNG:Parameters")[
        "PNG:Parameters"]


def test_the_output_is_a_named_file_or_a_folder(tmp_path: Path, synthmark_home: Path) -> None:
    import synthmark
    from synthmark.errors import UsageError
    from synthmark.labelling import GenerationInfo

    make_home(synthmark_home)
    image = hostile.photo_like((300, 300), seed=4)
    info = GenerationInfo(model="m")
    made = synthmark.label(image, info, f"{tmp_path}/new/")  # a new folder, by its slash
    assert made.path.parent == tmp_path / "new" and made.path.suffix == ".png"
    with pytest.raises(UsageError, match="neither a folder nor a file name"):
        synthmark.label(image, info, tmp_path / "noext")
    assert not (tmp_path / "noext").exists()
    from synthmark.errors import LabelError

    with pytest.raises(LabelError, match="exists already"):
        synthmark.label(image, info, made.path)
