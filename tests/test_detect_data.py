"""synthmark.detect.data: training images, near-twin groups, balanced weights, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthmark.detect.data import Augment, TrainingImages, assign_groups, balanced_weights, collect
from synthmark.errors import UsageError
from tests import hostile


def test_groups_keep_near_twins_together(tmp_path: Path) -> None:
    root = tmp_path / "drawbench"
    items = [
        (root / "sd14" / "Text_3.jpg", root),
        (root / "sd15" / "Text_3.jpg", root),
        (root / "sd15" / "Text_4.jpg", root),
    ]
    subj = tmp_path / "objects"
    items += [(subj / f"{name}_{i:02d}.jpg", subj) for name in ("cat", "can") for i in range(3)]
    men = tmp_path / "men"
    items += [(men / f"man_unsplash_{i:05d}.jpg", men) for i in range(4)]
    g = assign_groups(items)
    assert g[0] == g[1] != g[2]  # same prompt in sibling folders: one group
    assert len(set(g[3:6])) == 1 and len(set(g[6:9])) == 1 and g[3] != g[6]  # subjects
    assert len(set(g[9:])) == 4  # one long series: one group per file


def test_balanced_weights_give_each_class_and_source_an_equal_share() -> None:
    labels = [0] * 6 + [1] * 2
    sources = ["a"] * 5 + ["b"] + ["c"] * 2
    w = balanced_weights(labels, sources)
    assert w.mean() == pytest.approx(1.0)
    assert w[:6].sum() == pytest.approx(w[6:].sum())
    assert w[:5].sum() == pytest.approx(w[5])


def test_training_images_augment_both_classes_alike_and_reproducibly(tmp_path: Path) -> None:
    for d in ("real", "fake"):
        (tmp_path / d).mkdir()
        for i in range(3):
            hostile.write(
                tmp_path / d / f"{d}{i}.png",
                hostile.png_bytes(hostile.photo_like((64, 64), seed=i)),
            )
    samples = collect([tmp_path / "real"], [tmp_path / "fake"])
    assert [s.label for s in samples] == [0, 0, 0, 1, 1, 1]
    aug = Augment(p_jpeg=1.0, p_webp=0.0, p_resize=0.0, p_blur=0.0)
    a = TrainingImages(samples, aug, seed=3)
    b = TrainingImages(samples, aug, seed=3)
    assert np.array_equal(np.asarray(a[4]), np.asarray(b[4]))
    assert not np.array_equal(np.asarray(a[4]), np.asarray(TrainingImages(samples)[4]))
    with pytest.raises(UsageError, match="no such file"):
        collect([tmp_path / "nope"], [tmp_path / "fake"])


def test_augment_half_resize_is_exact_and_off_by_default() -> None:
    image = hostile.photo_like((64, 48), seed=0)
    halved = Augment(p_jpeg=0.0, p_webp=0.0, p_resize=0.0, p_blur=0.0, p_half=1.0)
    never = Augment(p_jpeg=0.0, p_webp=0.0, p_resize=0.0, p_blur=0.0, p_half=0.0)
    for seed in range(5):
        assert halved(image, np.random.default_rng(seed)).size == (32, 24)
        assert never(image, np.random.default_rng(seed)).size == (64, 48)
    sizes = [
        Augment(p_resize=0.0, p_blur=0.0, p_half=0.2)(image, np.random.default_rng(seed)).size
        for seed in range(200)
    ]
    assert 0.1 < sizes.count((32, 24)) / len(sizes) < 0.3
    assert Augment().p_half == 0.0 and "x0.5 (p=" not in Augment().describe()
    assert "resize x0.5 (p=0.2)" in Augment(p_half=0.2).describe()
    with pytest.raises(UsageError, match="probabilities"):
        Augment(p_half=1.5)


def test_groups_for_flattened_repository_paths_and_suffixed_series(tmp_path: Path) -> None:
    polyu, sdcpp = tmp_path / "real_polyu", tmp_path / "gen_sdcpp"
    names = {
        polyu: ["Cam_chair_11_real", "Cam_chair_14_real", "Cam_desk_2_real", "Cam_desk_5_real"],
        sdcpp: ["assets__flux__dev-q8_0", "assets__flux__schnell", "assets__lens__example"],
    }
    items = [(folder / f"{n}.png", folder) for folder, stems in names.items() for n in stems]
    groups = assign_groups(items)
    assert groups[0] == groups[1] != groups[2] == groups[3]  # one PolyU scene, several crops
    assert groups[4] == groups[5] == "gen_sdcpp/assets__flux"  # one prompt, two models
    assert groups[6] == "gen_sdcpp/assets__lens__example"  # alone in its folder
    drawbench = tmp_path / "db" / "sd14"
    numbered = [(drawbench / f"Gary_Marcus_et_al__{i}.jpg", tmp_path / "db") for i in (95, 96)]
    numbered += [(drawbench / f"Text_{i}.jpg", tmp_path / "db") for i in (1, 2)]
    g = assign_groups(numbered)
    assert g[0] == g[1] != g[2] == g[3]  # a prompt number, not a repository path
