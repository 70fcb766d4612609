"""``synthmark detect train / predict / card`` end to end on tiny data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from tests import hostile
from tests.detect_images import tiny_folders

runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return tiny_folders(tmp_path_factory.mktemp("data"), 10)


@pytest.fixture(scope="module")
def model(folders: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    real, fake = folders
    out = tmp_path_factory.mktemp("model") / "det"
    result = runner.invoke(
        app,
        [
            "detect",
            "train",
            "--real",
            str(real),
            "--fake",
            str(fake),
            "-o",
            str(out),
            "--extractor",
            "grid",
            "--tile",
            "64",
            "--tile-multiple",
            "8",
            "--cv",
            "3",
            "--cv-by",
            "group",
            "--no-augment",
            "--licence",
            "real=CC0",
            "--extractor-args",
            '{"channels": "luma"}',
            "--head-args",
            '{"C": 0.05, "nuisance": 1}',
            "--threshold-by",
            "source",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Validation" in result.output and "AUC" in result.output
    return out


def test_train_keeps_the_extractor_parameters_and_threshold_rule(model: Path) -> None:
    params = json.loads((model / "detector.json").read_text())["params"]
    assert params["extractor_params"] == {"channels": "luma"}
    assert params["head_params"] == {"C": 0.05, "nuisance": 1}
    assert params["threshold_by"] == "source"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
@pytest.mark.parametrize("option", ["--extractor-args", "--head-args"])
def test_train_with_bad_extractor_or_head_params_is_a_usage_error(
    option: str, text: str, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    real, fake = folders
    args = ["detect", "train", "--real", str(real), "--fake", str(fake), "-o", str(tmp_path / "m")]
    result = runner.invoke(app, [*args, option, text])
    assert result.exit_code == 2 and option in result.output
    assert not (tmp_path / "m").exists()


def test_train_writes_a_model_with_a_card(model: Path) -> None:
    assert (model / "detector.json").is_file() and (model / "detector.safetensors").is_file()
    card = (model / "MODEL_CARD.md").read_text()
    assert "Operating threshold" in card and "CC0" in card and "synthmark detect train" in card


def test_predict_json_one_object_per_file_and_per_file_errors(
    model: Path, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    real, fake = folders
    bad = hostile.write(
        tmp_path / "broken.jpg",
        hostile.truncated(hostile.jpeg_bytes(hostile.photo_like((300, 300)))),
    )
    files = [str(real / "photo_000.png"), str(bad), str(fake / "gen_000.png")]
    result = runner.invoke(app, ["detect", "predict", *files, "--model", str(model), "--json"])
    assert result.exit_code == 1  # one file failed; the others were still scored
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == files
    assert "error" in lines[1] and "cannot decode" in lines[1]["error"]
    for line in (lines[0], lines[2]):
        assert 0.0 <= line["probability"] <= 1.0
        assert line["label"] in ("likely_synthetic", "no_evidence")


def test_predict_a_folder_in_plain_text(model: Path, folders: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["detect", "predict", str(folders[1]), "-m", str(model)])
    assert result.exit_code == 0, result.output
    rows = [r.split("\t") for r in result.stdout.splitlines()]
    assert len(rows) == 10 and all(r[1] in ("likely_synthetic", "no_evidence") for r in rows)


def test_predict_without_model_uses_the_packaged_one(folders: tuple[Path, Path]) -> None:
    result = runner.invoke(app, ["detect", "predict", str(folders[0] / "photo_001.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) >= {"path", "probability", "label"}


def test_a_pickled_model_is_refused(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps({"weights": 1}))
    result = runner.invoke(app, ["detect", "predict", str(folders[0]), "--model", str(evil)])
    assert result.exit_code == 1
    assert "Error:" in result.output and "pickle" in result.output


def test_card_prints_markdown_and_json(model: Path) -> None:
    text = runner.invoke(app, ["detect", "card", str(model)])
    assert text.exit_code == 0 and text.stdout.startswith("# Model card")
    as_json = runner.invoke(app, ["detect", "card", str(model), "--json"])
    card = json.loads(as_json.stdout)
    assert card["threshold"] > 0 and card["training_data"][0]["name"] in ("real", "fake")


def test_train_with_a_missing_folder_is_an_error(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    result = runner.invoke(
        app,
        [
            "detect",
            "train",
            "--real",
            str(tmp_path / "nope"),
            "--fake",
            str(folders[1]),
            "-o",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 2 and "Error:" in result.output


def test_predict_abstains_in_screens_words_and_exits_0(tmp_path: Path) -> None:
    """A flat image is outside the detector's domain: that is an answer, not a failure; and
    a low score is no_evidence, as screen says, never "real"."""
    from PIL import Image

    flat = tmp_path / "flat.png"
    Image.new("RGB", (300, 300), (128, 128, 128)).save(flat)
    photo = hostile.write(tmp_path / "photo.png", hostile.png_bytes(hostile.photo_like()))
    result = runner.invoke(app, ["detect", "predict", str(flat), str(photo), "--json"])
    assert result.exit_code == 0, result.output
    abstained, scored = (json.loads(line) for line in result.stdout.splitlines())
    assert abstained["label"] == "abstained" and "does not apply" in abstained["reason"]
    assert "error" not in abstained and "probability" not in abstained
    assert scored["label"] in ("likely_synthetic", "no_evidence")
    expected = "likely_synthetic" if scored["probability"] >= scored["threshold"] else "no_evidence"
    assert scored["label"] == expected
    text = runner.invoke(app, ["detect", "predict", str(flat)])
    assert text.exit_code == 0 and text.stdout.split("\t")[:3] == ["-", "abstained", str(flat)]


def test_train_defaults_are_the_shipped_models_settings() -> None:
    """`detect train --help` shows what ships: each default equals the default model's."""
    import inspect

    from synthmark.cli import detect as cli
    from synthmark.detect.loading import packaged_model_path

    shipped = json.loads((packaged_model_path("default") / "detector.json").read_text())["params"]
    defaults = {
        name: getattr(p.default, "value", p.default)
        for name, p in inspect.signature(cli.train).parameters.items()
    }
    for name in ("extractor", "tile", "max_tiles", "tile_multiple", "target_fpr", "cv"):
        assert defaults[name] == shipped[name], name
    assert defaults["cv_by"] == shipped["cv_by"] and defaults["head"] == shipped["head"]
    assert defaults["threshold_by"] == shipped["threshold_by"]
