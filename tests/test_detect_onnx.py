"""ONNX export: one file, scores as PyTorch's, its own preprocessing, foreign files refused."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.detect import Detector, ImageFeatures, OnnxDetector, export_onnx, load_detector
from synthmark.detect.backbone.mobilenet import build_mobilenet
from synthmark.detect.extractors.mobilenet import MobileNetV2Features
from synthmark.detect.onnx import META_KEY
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError
from tests import hostile

runner = CliRunner()


def _images(n: int, offset: int = 0) -> list:
    sizes = [(96, 96), (160, 128), (200, 136), (72, 90)]
    return [hostile.photo_like(sizes[i % len(sizes)], seed=offset + i) for i in range(n)]


def _tiny_detector(
    stats: list[str] | None = None, head: str = "logistic", scales: list[float] | None = None
) -> Detector:
    """A mobilenetv2 detector on tiny random weights, fitted on features of random photos."""
    import torch

    torch.manual_seed(0)
    params: dict[str, object] = {"layers": ["blocks.1", "blocks.2"], "stats": stats}
    if scales:
        params["scales"] = scales
    ext = MobileNetV2Features(**params).bind(build_mobilenet(0))  # type: ignore[arg-type]
    det = Detector(
        extractor="mobilenetv2",
        extractor_params=params,
        tile=96,
        max_tiles=2,
        tile_multiple=32,
        cv=3,
        target_fpr=0.1,
        head=head,
        head_params={"hidden": 8, "max_iter": 100} if head == "mlp" else None,
    )
    images = _images(16)
    labels = [i % 2 for i in range(16)]
    feats = [ImageFeatures(tiles=ext.transform(det.tiles(im))) for im in images]
    return det.fit_features(feats, labels, extractor=ext)


@pytest.fixture(scope="module")
def tiny_detector() -> Detector:
    return _tiny_detector()


@pytest.fixture(scope="module")
def exported(tiny_detector: Detector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tiny_detector, tmp_path_factory.mktemp("onnx") / "detector.onnx")


def test_onnx_scores_match_pytorch(tiny_detector: Detector, exported: Path) -> None:
    onnx_det = load_detector(exported)
    assert isinstance(onnx_det, OnnxDetector)
    images = _images(6, offset=100)  # several sizes: 1 or 2 tiles, sides multiples of 32
    torch_p = tiny_detector.predict_proba(images)[:, 1]
    onnx_p = onnx_det.predict_proba(images)[:, 1]
    assert np.abs(torch_p - onnx_p).max() < 1e-3
    assert onnx_det.threshold_ == pytest.approx(tiny_detector.threshold_)


def test_onnx_export_of_other_statistics_matches_pytorch(tmp_path: Path) -> None:
    det = _tiny_detector(["std", "absmean"])
    onnx_det = load_detector(export_onnx(det, tmp_path / "stats.onnx"))
    images = _images(4, offset=200)
    torch_p = det.predict_proba(images)[:, 1]
    assert np.abs(torch_p - onnx_det.predict_proba(images)[:, 1]).max() < 1e-3


def test_onnx_export_of_two_scales_matches_pytorch(tmp_path: Path) -> None:
    det = _tiny_detector(["mean", "std", "absmean"], scales=[1, 0.5])
    onnx_det = load_detector(export_onnx(det, tmp_path / "scales.onnx"))
    images = _images(4, offset=400)
    torch_p = det.predict_proba(images)[:, 1]
    assert np.abs(torch_p - onnx_det.predict_proba(images)[:, 1]).max() < 1e-3
    assert np.ptp(torch_p) > 1e-3


def test_onnx_export_of_the_mlp_head_matches_pytorch(tmp_path: Path) -> None:
    det = _tiny_detector(head="mlp")
    onnx_det = load_detector(export_onnx(det, tmp_path / "mlp.onnx"))
    images = _images(4, offset=300)
    torch_p = det.predict_proba(images)[:, 1]
    assert np.abs(torch_p - onnx_det.predict_proba(images)[:, 1]).max() < 1e-3
    assert np.ptp(torch_p) > 1e-3  # the images are told apart, so the match means something


def test_onnx_session_runs_one_thread_per_worker(exported: Path) -> None:
    """predict_paths' workers are the parallelism: a session of its own threads per worker
    would oversubscribe the cores (fails with a session of n_jobs threads)."""
    det = OnnxDetector(exported, n_jobs=2)
    assert det.n_jobs == 2
    assert det._session.get_session_options().intra_op_num_threads == 1


def test_onnx_metadata_documents_preprocessing_and_size(exported: Path) -> None:
    import onnx

    model = onnx.load(str(exported))
    meta = json.loads({p.key: p.value for p in model.metadata_props}[META_KEY])
    pre = meta["preprocessing"]
    assert pre["canonical_quality"] == 75 and pre["tile"] == 96 and pre["tile_multiple"] == 32
    assert "JPEG" in pre["steps"] and "never resize" in pre["steps"]
    assert [i.name for i in model.graph.input] == ["tiles"]
    assert exported.stat().st_size < 20_000_000


def test_only_network_features_export(tmp_path: Path) -> None:
    from tests.detect_images import tiny_set

    images, labels = tiny_set(6)
    det = Detector(tile=64, max_tiles=1, cv=3).fit(images, labels)
    with pytest.raises(UsageError, match="only a detector with the mobilenetv2 extractor"):
        export_onnx(det, tmp_path / "grid.onnx")


def test_foreign_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    evil = tmp_path / "evil.onnx"
    evil.write_bytes(pickle.dumps({"weights": 1}))
    with pytest.raises(UnsafeFile, match="pickle"):
        load_detector(evil)
    noise = tmp_path / "noise.onnx"
    noise.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(UsageError, match="not a readable ONNX model"):
        load_detector(noise)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )
    other = tmp_path / "classifier.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(other))
    with pytest.raises(UsageError, match=r"its inputs are \[\('x'"):
        load_detector(other)


def test_an_onnx_detector_without_metadata_is_refused(exported: Path, tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(exported))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(UsageError, match="no synthmark metadata"):
        load_detector(bare)


def test_cli_predict_with_an_onnx_file(exported: Path, tmp_path: Path) -> None:
    photo = hostile.write(tmp_path / "p.png", hostile.png_bytes(hostile.photo_like((128, 128), 5)))
    scored = runner.invoke(
        app, ["detect", "predict", str(photo), "--model", str(exported), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    line = json.loads(scored.stdout)
    expected = OnnxDetector(exported).predict_proba([hostile.photo_like((128, 128), 5)])[0, 1]
    assert line["probability"] == pytest.approx(expected, abs=1e-6)
    missing = tmp_path / "x.onnx"
    bad = runner.invoke(app, ["detect", "predict", str(photo), "--model", str(missing)])
    assert bad.exit_code == 2 and "Error" in bad.output  # a usage error, as for any path
    with pytest.raises(ModelNotFound, match="no such ONNX file"):
        load_detector(missing)


def test_the_default_model_exports_with_scores_as_pytorch(
    shared_data: Path, tmp_path: Path
) -> None:
    """The shipped model with the real backbone weights (read from SYNTHMARK_MODELS)."""
    from synthmark.imaging import load_image

    det = load_detector()
    assert isinstance(det, Detector)
    result = runner.invoke(
        app, ["detect", "export", "--format", "onnx", "-o", str(tmp_path / "detector.onnx")]
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "detector.onnx"
    assert path.stat().st_size <= 20_000_000
    files = [
        *sorted((shared_data / "detector" / "real_sun_hays80").glob("*.jpg"))[:3],
        *sorted((shared_data / "detector_extra" / "gen_sdcpp").glob("*.png"))[:3],
    ]
    images = [load_image(f).image for f in files]
    torch_p = det.predict_proba(images)[:, 1]
    onnx_p = OnnxDetector(path).predict_proba(images)[:, 1]
    assert np.abs(torch_p - onnx_p).max() < 1e-3
