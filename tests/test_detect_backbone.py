"""The pretrained backbone: TFLite parsing, conversion into timm, pinned weights, bad files."""

from __future__ import annotations

import hashlib
import http.server
import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.detect.backbone import load_mobilenet
from synthmark.detect.backbone.mobilenet import build_mobilenet, mobilenet_from_tflite
from synthmark.detect.backbone.reference import run_reference
from synthmark.detect.backbone.tflite import read_tflite
from synthmark.detect.backbone.weights import (
    MOBILENET_V2,
    MOBILENET_V2_UINT8,
    PinnedFile,
    resolve_weights,
)
from synthmark.detect.extractors import create_extractor
from synthmark.detect.extractors.mobilenet import MobileNetV2Features
from synthmark.errors import ModelNotFound, UsageError
from synthmark.settings import Settings
from tests import hostile
from tests.conftest import SHARED_DATA

SHARED_MODELS = SHARED_DATA.parent / "models"
PHOTOS = (
    "detector/real_dreambooth_objects/cat_00.jpg",
    "detector/real_sun_hays80/abbey_sun_asztnlqhlrvirneh.jpg",
    "detector/real_sun_hays80/barn_sun_btulbiaoilnxcseh.jpg",
)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """``$SYNTHMARK_MODELS`` (the Makefile sets it), else ``../shared/models``; a missing
    folder fails the test: CI must have the pinned files."""
    chosen = Path(os.environ.get("SYNTHMARK_MODELS") or SHARED_MODELS)
    if not (chosen / MOBILENET_V2.path).is_file():
        pytest.fail(f"pretrained weights not found under {chosen}; set SYNTHMARK_MODELS")
    return chosen


def _settings(tmp_path: Path, pretrained: Path | None, offline: bool = True) -> Settings:
    return Settings(home=tmp_path / "home", pretrained_dir=pretrained, offline=offline)


@pytest.mark.parametrize("pinned", [MOBILENET_V2, MOBILENET_V2_UINT8], ids=lambda p: p.filename)
def test_converted_network_ranks_imagenet_classes_like_the_tflite_graph(
    models_dir: Path, pinned: PinnedFile
) -> None:
    """Reference: the same dequantised graph run op by op by our own code (tensor wiring
    and TF "same" padding of the file, not timm's modules)."""
    import torch

    graph = read_tflite((models_dir / pinned.path).read_bytes())
    net = mobilenet_from_tflite(graph)
    photos = [
        Image.open(SHARED_DATA / p).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
        for p in PHOTOS
    ]
    x = np.stack([np.asarray(im, dtype=np.float32) for im in photos]) / 127.5 - 1.0
    reference = run_reference(graph, x)
    with torch.no_grad():
        converted = torch.softmax(net(torch.from_numpy(x).permute(0, 3, 1, 2)), -1).numpy()
    assert np.abs(converted - reference).max() < 1e-4
    for ours, theirs in zip(converted, reference, strict=True):
        assert list(np.argsort(-ours)[:5]) == list(np.argsort(-theirs)[:5])
    labels = (models_dir / "imagenet_mobilenet" / "imagenet_labels.txt").read_text().splitlines()
    top1 = [labels[int(np.argmax(p))] for p in converted]
    assert "cat" in top1[0] and "church" in top1[1] and "barn" in top1[2]


def test_parser_reads_the_operator_list_and_per_channel_quantisation(models_dir: Path) -> None:
    graph = read_tflite((models_dir / MOBILENET_V2.path).read_bytes())
    ops = [op.op for op in graph.operators]
    assert ops.count("CONV_2D") == 36 and ops.count("DEPTHWISE_CONV_2D") == 17
    first = next(op for op in graph.operators if op.op == "CONV_2D")
    assert first.options["stride_h"] == 2 and first.options["padding"] == "SAME"
    w = graph.weights(first.inputs[1])
    q = graph.tensors[first.inputs[1]].quantization
    assert w.shape == (32, 3, 3, 3) and w.dtype == np.float32 and q is not None
    assert q.scale.shape == (32,)  # one scale per output channel


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no TFL3 identifier"),
        (pickle.dumps({"weights": [1, 2]}), "looks like a pickle"),
        (b"PK\x03\x04" + bytes(60), "looks like a pickle"),
        (np.random.default_rng(0).bytes(4096), "no TFL3 identifier"),
        (b"\xff\xff\xff\x7fTFL3" + bytes(64), "outside"),
    ],
    ids=["empty", "pickle", "zip", "random", "bad-offset"],
)
def test_parser_refuses_what_is_not_a_tflite_file(data: bytes, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        read_tflite(data, "weights.tflite")


def test_truncated_or_foreign_graph_is_refused_with_the_reason(models_dir: Path) -> None:
    data = (models_dir / MOBILENET_V2.path).read_bytes()
    with pytest.raises(UsageError, match="TensorFlow Lite"):
        read_tflite(data[: len(data) // 3])
    graph = read_tflite(data)
    short = type(graph)(graph.tensors, graph.operators[:20], graph.inputs, graph.outputs, [])
    with pytest.raises(UsageError, match="convolutions"):
        mobilenet_from_tflite(short)


# -- where the weights come from ------------------------------------------------------------


def test_resolution_order_cache_then_models_folder(models_dir: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path, models_dir)
    data, where = resolve_weights(MOBILENET_V2, settings)
    assert where == str(models_dir / MOBILENET_V2.path)
    assert hashlib.sha256(data).hexdigest() == MOBILENET_V2.sha256
    cached = settings.weights_cache / MOBILENET_V2.path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    assert resolve_weights(MOBILENET_V2, settings)[1] == str(cached)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (pickle.dumps("evil"), "pickle"),
        (b"not a model at all", "not the pinned file"),
    ],
)
def test_a_wrong_file_in_the_cache_is_refused_never_used(
    models_dir: Path, tmp_path: Path, content: bytes, why: str
) -> None:
    settings = _settings(tmp_path, models_dir)
    cached = settings.weights_cache / MOBILENET_V2.path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content)
    with pytest.raises(ModelNotFound, match=rf"sha256 .* is not the pinned .*{why}") as info:
        resolve_weights(MOBILENET_V2, settings)
    assert str(cached) in str(info.value) and "delete it" in str(info.value)


def test_missing_everywhere_offline_says_which_file_and_how_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as info:
        load_mobilenet(_settings(tmp_path, tmp_path / "empty"))
    message = str(info.value)
    assert "\n" not in message
    assert MOBILENET_V2.filename in message and "SYNTHMARK_MODELS" in message
    assert MOBILENET_V2.url in message


def test_download_is_checked_and_cached(models_dir: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror.tflite"
    mirror.write_bytes((models_dir / MOBILENET_V2.path).read_bytes())
    settings = _settings(tmp_path, None, offline=False)
    data, where = resolve_weights(MOBILENET_V2, settings, url=mirror.as_uri())
    assert where == str(settings.weights_cache / MOBILENET_V2.path)
    assert Path(where).read_bytes() == data


@pytest.fixture
def http_file(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server serving ``tmp_path/served`` (the test writes the file)."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(served), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/weights.tflite", served
    finally:
        server.shutdown()
        server.server_close()


def test_http_download_with_a_wrong_sha256_is_refused_and_not_cached(
    http_file: tuple[str, Path], models_dir: Path, tmp_path: Path
) -> None:
    url, served = http_file
    good = (models_dir / MOBILENET_V2.path).read_bytes()
    middle = len(good) // 2
    changed = good[:middle] + bytes([good[middle] ^ 1]) + good[middle + 1 :]  # one bit
    (served / "weights.tflite").write_bytes(changed)
    settings = _settings(tmp_path, None, offline=False)
    with pytest.raises(ModelNotFound, match="is not the pinned"):
        resolve_weights(MOBILENET_V2, settings, url=url)
    assert not (settings.weights_cache / MOBILENET_V2.path).exists()
    (served / "weights.tflite").write_bytes(good)
    assert resolve_weights(MOBILENET_V2, settings, url=url)[0] == good


def test_failed_download_names_the_reason(tmp_path: Path) -> None:
    settings = _settings(tmp_path, None, offline=False)
    with pytest.raises(ModelNotFound, match="download failed"):
        resolve_weights(MOBILENET_V2, settings, url=(tmp_path / "absent.tflite").as_uri())


# -- the extractor ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_network() -> object:
    import torch

    torch.manual_seed(0)
    return build_mobilenet(num_classes=0)


def test_extractor_features_with_random_weights(tiny_network: object) -> None:
    ext = MobileNetV2Features(layers=["blocks.1", "bn2"]).bind(tiny_network)
    images = [hostile.photo_like((96, 96), seed=1), hostile.photo_like((64, 80), seed=2)]
    a = ext.transform(images)
    assert a.shape == (2, ext.n_features) == (2, 2 * (24 + 1280))
    assert np.all(np.isfinite(a))
    assert np.array_equal(ext.transform(images[:1]), a[:1])  # one at a time, or in a batch
    with pytest.raises(UsageError, match="too small"):
        ext.transform([hostile.photo_like((16, 96), seed=3)])


def test_extractor_statistics_are_the_named_ones_per_layer_in_order(
    tiny_network: object,
) -> None:
    import torch

    images = [hostile.photo_like((96, 96), seed=4)]
    layers = ["blocks.1", "blocks.2"]
    default = MobileNetV2Features(layers=layers).bind(tiny_network)
    picked = MobileNetV2Features(layers=layers, stats=["std", "absmean"]).bind(tiny_network)
    assert default.statistics == ("mean", "std") and picked.n_features == 2 * (24 + 32)
    x = torch.from_numpy(np.array(images[0])[None]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.inference_mode():
        net = tiny_network
        a1 = net.blocks[1](net.blocks[0](net.bn1(net.conv_stem(x))))  # type: ignore[attr-defined]
        a2 = net.blocks[2](a1).flatten(2)  # type: ignore[attr-defined]
        a1 = a1.flatten(2)
    expected = torch.cat(
        [a1.mean(2), a1.std(2, unbiased=False), a2.mean(2), a2.std(2, unbiased=False)], 1
    )
    np.testing.assert_allclose(default.transform(images), expected.numpy(), rtol=1e-5, atol=1e-6)
    expected = torch.cat(
        [a1.std(2, unbiased=False), a1.abs().mean(2), a2.std(2, unbiased=False), a2.abs().mean(2)],
        1,
    )
    np.testing.assert_allclose(picked.transform(images), expected.numpy(), rtol=1e-5, atol=1e-6)
    bad = MobileNetV2Features(stats=["median"]).bind(tiny_network)
    with pytest.raises(UsageError, match="unknown statistic"):
        bad.transform(images)


def test_extractor_scales_add_the_statistics_of_an_average_pooled_copy(
    tiny_network: object,
) -> None:
    import torch

    images = [hostile.photo_like((96, 128), seed=5), hostile.photo_like((96, 128), seed=6)]
    layers = ["blocks.1", "blocks.2"]
    native = MobileNetV2Features(layers=layers).bind(tiny_network)
    both = MobileNetV2Features(layers=layers, scales=[1, 0.5]).bind(tiny_network)
    assert both.n_features == 2 * native.n_features
    x = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2)
    x = x.float() / 127.5 - 1
    with torch.inference_mode():
        half = native.forward(torch.nn.functional.avg_pool2d(x, 2)).numpy()
    got = both.transform(images)
    np.testing.assert_allclose(got[:, : native.n_features], native.transform(images), atol=1e-6)
    np.testing.assert_allclose(got[:, native.n_features :], half, rtol=1e-5, atol=1e-6)
    assert "scales 1, 0.5" in both.describe()
    with pytest.raises(UsageError, match="unknown scale"):
        MobileNetV2Features(scales=[0.3]).bind(tiny_network).transform(images)


def test_extractor_is_registered_and_checks_its_parameters() -> None:
    ext = create_extractor("mobilenetv2", {"layers": ["blocks.9"]})
    with pytest.raises(UsageError, match="unknown MobileNetV2 layer"):
        ext.transform([hostile.photo_like((64, 64), seed=1)])
    bad = create_extractor("mobilenetv2", {"weights": "resnet.pth"})
    with pytest.raises(UsageError, match="unknown backbone weights"):
        bad.transform([hostile.photo_like((64, 64), seed=1)])
    assert create_extractor("mobilenetv2").get_params()["weights"] == MOBILENET_V2.filename


def test_missing_weights_fail_once_and_are_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHMARK_MODELS", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls = []
    import synthmark.detect.backbone as backbone

    real = backbone.load_mobilenet

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backbone, "load_mobilenet", counting)
    ext = MobileNetV2Features()
    for _ in range(3):
        with pytest.raises(ModelNotFound, match=MOBILENET_V2.filename):
            ext.transform([hostile.photo_like((64, 64), seed=1)])
    assert len(calls) == 1


def test_screening_without_backbone_weights_notes_it_and_keeps_the_other_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from synthmark.detect import Detector, ImageFeatures
    from synthmark.screen.screener import Screener, ScreenOptions

    torch.manual_seed(0)
    ext = MobileNetV2Features(layers=["blocks.1"]).bind(build_mobilenet(0))
    det = Detector(
        extractor="mobilenetv2",
        extractor_params={"layers": ["blocks.1"]},
        tile=64,
        max_tiles=1,
        tile_multiple=32,
        cv=2,
    )
    images = [hostile.photo_like((96, 96), seed=i) for i in range(8)]
    feats = [ImageFeatures(tiles=ext.transform(det.tiles(im))) for im in images]
    folder = det.fit_features(feats, [i % 2 for i in range(8)], extractor=ext).save(tmp_path / "m")
    monkeypatch.setenv("SYNTHMARK_MODELS", str(tmp_path / "no-models-here"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    screener = Screener(ScreenOptions(detector_path=str(folder)))
    photo = hostile.png_bytes(hostile.photo_like((128, 128), seed=9))
    records = [screener.screen_bytes(photo, f"p{i}.png") for i in range(2)]
    for record in records:
        assert "error" not in record and record["verdict"]
        assert "detector" not in record["layers"] and "watermarks" in record["layers"]
        notes = [n for n in record["notes"] if n.startswith("detector not run")]
        assert len(notes) == 1 and "\n" not in notes[0]
        assert MOBILENET_V2.filename in notes[0] and "SYNTHMARK_MODELS" in notes[0]
