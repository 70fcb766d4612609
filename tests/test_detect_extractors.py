"""Feature extractors: registry, shapes, determinism, no container features, timm weights."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.detect.extractors import create_extractor, list_extractors
from synthmark.detect.extractors.timm_backbone import TimmBackbone, state_dict_sha256
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError
from tests import hostile

WEIGHT_FREE = ("grid", "spectrum", "cooccurrence", "periodic")


def test_registry_lists_and_rejects_by_name() -> None:
    assert {"grid", "spectrum", "cooccurrence", "cnn", "timm"} <= set(list_extractors())
    with pytest.raises(
        ValueError, match="unknown feature extractor 'sift'; known: cnn, cooccurrence"
    ):
        create_extractor("sift")
    with pytest.raises(UsageError, match="bad parameters"):
        create_extractor("grid", {"colour": True})


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_weight_free_features_are_finite_deterministic_and_fixed_length(name: str) -> None:
    ext = create_extractor(name)
    a = ext.transform(
        [hostile.photo_like((128, 128), seed=1), hostile.photo_like((192, 136), seed=2)]
    )
    assert a.ndim == 2 and a.shape[0] == 2 and np.all(np.isfinite(a))
    again = ext.transform([hostile.photo_like((128, 128), seed=1)])
    assert np.array_equal(a[:1], again)
    assert ext.state_arrays() == {}


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_features_see_pixels_not_the_container(name: str) -> None:
    """The same pixels saved as PNG, or as JPEG with EXIF, give the same features."""
    pixels = hostile.photo_like((128, 128), seed=3)
    as_png = Image.open(io.BytesIO(hostile.png_bytes(pixels))).convert("RGB")
    exif = Image.Exif()
    exif[0x0131] = "Stable Diffusion"  # Software tag
    buf = io.BytesIO()
    pixels.save(buf, format="WEBP", lossless=True, exact=True, exif=exif.tobytes())
    webp = Image.open(io.BytesIO(buf.getvalue()))
    assert webp.format == "WEBP" and webp.getexif().get(0x0131) == "Stable Diffusion"
    as_webp = webp.convert("RGB")
    assert np.array_equal(np.asarray(as_webp), np.asarray(as_png))
    ext = create_extractor(name)
    assert np.array_equal(ext.transform([as_png]), ext.transform([as_webp]))


def test_grid_features_see_a_periodic_pattern() -> None:
    base = np.asarray(hostile.photo_like((128, 128), seed=4), dtype=np.float64)
    pattern = np.tile(np.random.default_rng(0).choice([-4.0, 4.0], (8, 8)), (16, 16))[..., None]
    marked = Image.fromarray(np.clip(base + pattern, 0, 255).astype(np.uint8))
    ext = create_extractor("grid", {"magnitude": False, "channels": "luma", "residuals": ["lap"]})
    plain, seen = ext.transform([Image.fromarray(base.astype(np.uint8)), marked])
    assert np.abs(seen).mean() > 3 * np.abs(plain).mean()
    assert ext.transform([marked]).shape[1] == ext.n_features == 64  # type: ignore[attr-defined]


def test_periodic_features_survive_a_crop_off_the_grid() -> None:
    """A crop by (3, 5) px moves the 8 px pattern's phase: the grid features change more than
    the pattern's presence does, the shift-invariant periodic features much less."""
    base = np.asarray(hostile.photo_like((144, 144), seed=4), dtype=np.float64)
    pattern = np.tile(np.random.default_rng(0).choice([-4.0, 4.0], (8, 8)), (18, 18))[..., None]
    marked = np.clip(base + pattern, 0, 255).astype(np.uint8)

    def crop(a: np.ndarray, dy: int, dx: int) -> Image.Image:
        return Image.fromarray(np.ascontiguousarray(a[dy : dy + 128, dx : dx + 128]))

    views = [crop(marked, 0, 0), crop(marked, 3, 5), crop(base.astype(np.uint8), 0, 0)]
    periodic = create_extractor("periodic")
    a, shifted, plain = periodic.transform(views)
    assert a.shape == (periodic.n_features,)  # type: ignore[attr-defined]
    assert np.linalg.norm(a - shifted) < 0.5 * np.linalg.norm(a - plain)
    g_a, g_shifted, g_plain = create_extractor("grid").transform(views)
    assert np.linalg.norm(g_a - g_shifted) > np.linalg.norm(g_a - g_plain)
    with pytest.raises(UsageError, match="too small"):
        periodic.transform([Image.new("RGB", (12, 12))])


def test_combination_concatenates() -> None:
    both = create_extractor("grid+spectrum")
    one = [hostile.photo_like((128, 128))]
    expected = np.hstack(
        [create_extractor("grid").transform(one), create_extractor("spectrum").transform(one)]
    )
    assert np.array_equal(both.transform(one), expected)


def test_timm_backbone_loads_a_local_checkpoint_through_pretrained_cfg_overlay(
    tmp_path: Path,
) -> None:
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    weights = tmp_path / "test_resnet.safetensors"
    save_file(state, str(weights))

    ext = TimmBackbone(model="test_resnet", pretrained_file=str(weights), input_size=64)
    feats = ext.transform([hostile.photo_like((96, 80)), hostile.photo_like((64, 64), seed=1)])
    loaded = ext.network_.state_dict()  # type: ignore[attr-defined]
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert ext.weights_sha256 == state_dict_sha256(state)
    assert feats.shape[0] == 2 and np.all(np.isfinite(feats))
    with torch.inference_mode():
        x = torch.rand(1, 3, 64, 64)
        assert torch.allclose(ext.network_(x), source.eval()(x))  # type: ignore[attr-defined]

    # A detector rebuilt with the digest refuses different weights.
    other = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    other_file = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(other_file))
    with pytest.raises(ModelNotFound, match="not the ones"):
        TimmBackbone(
            "test_resnet", str(other_file), input_size=64, weights_sha256=ext.weights_sha256
        ).transform([hostile.photo_like((64, 64))])


def test_timm_backbone_refuses_pickled_weights_and_reports_missing_ones(tmp_path: Path) -> None:
    pth = tmp_path / "weights.pth"
    pth.write_bytes(b"\x80\x04not really")
    with pytest.raises(UnsafeFile, match="safetensors"):
        TimmBackbone("test_resnet", str(pth)).transform([hostile.photo_like((224, 224))])
    with pytest.raises(ModelNotFound):
        TimmBackbone("test_resnet", str(tmp_path / "absent.safetensors")).transform(
            [hostile.photo_like((224, 224))]
        )
    # No file and nothing in the (offline) hub cache: a clear error, not a download.
    with pytest.raises(ModelNotFound, match="pretrained_file"):
        TimmBackbone("resnet18").transform([hostile.photo_like((224, 224))])


def test_small_cnn_trains_saves_and_reloads() -> None:
    from synthmark.detect.extractors.small_cnn import SmallResidualCNN

    images = [hostile.photo_like((64, 64), seed=i) for i in range(6)]
    labels = np.array([0, 1] * 3)
    cnn = SmallResidualCNN(width=4, patch=32, patches_per_image=2, epochs=1, batch_size=8)
    with pytest.raises(UsageError, match="not trained"):
        cnn.transform(images[:1])
    cnn.fit(images, labels)
    feats = cnn.transform(images[:2])
    assert feats.shape == (2, 4 * 4 + 1)
    clone = SmallResidualCNN(**cnn.get_params())
    clone.load_state_arrays(cnn.state_arrays())
    assert np.array_equal(clone.transform(images[:2]), feats)
