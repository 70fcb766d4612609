"""The detector: fit/predict on tiny data, persistence, pickle refusal, threshold, hostile files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.detect import Detector, load_detector, predict_paths
from synthmark.detect.data import Augment, TrainingImages, assign_groups, balanced_weights, collect
from synthmark.detect.preprocess import Preprocess, grid_crop
from synthmark.errors import ImageTooSmall, ModelNotFound, UnsafeFile, UsageError
from synthmark.metrics import roc_auc, threshold_at_fpr
from tests import hostile

SIDE = 96


def _pattern() -> np.ndarray:
    """A fixed 8x8 additive pattern, the kind a latent decoder leaves."""
    rng = np.random.default_rng(1234)
    tile = rng.choice([-1.0, 1.0], size=(8, 8)) * 7.0
    return np.tile(tile, (SIDE // 8, SIDE // 8))[..., None]


def tiny_image(label: int, seed: int) -> Image.Image:
    """A smooth noisy picture; label 1 adds the grid pattern."""
    base = np.asarray(hostile.photo_like((SIDE, SIDE), seed=seed), dtype=np.float64)
    if label:
        base = base + _pattern()
    return Image.fromarray(np.clip(np.rint(base), 0, 255).astype(np.uint8), "RGB")


def tiny_set(n_per_class: int, offset: int = 0) -> tuple[list[Image.Image], list[str]]:
    images, labels = [], []
    for i in range(n_per_class):
        for label in (0, 1):
            images.append(tiny_image(label, seed=offset + 2 * i + label))
            labels.append("generated" if label else "real")
    return images, labels


def tiny_folders(root: Path, n: int) -> tuple[Path, Path]:
    """``root/real`` and ``root/fake`` with ``n`` tiny images each."""
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    for i in range(n):
        tiny_image(0, seed=2 * i).save(real / f"photo_{i:03d}.png")
        tiny_image(1, seed=2 * i + 1).save(fake / f"gen_{i:03d}.png")
    return real, fake


def tiny_detector(**params: object) -> Detector:
    defaults: dict[str, object] = {"tile": 64, "max_tiles": 1, "cv": 3, "target_fpr": 0.1}
    defaults.update(params)
    return Detector(**defaults)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted() -> Detector:
    images, labels = tiny_set(12)
    return tiny_detector().fit(images, labels)


def test_init_only_stores_parameters() -> None:
    det = Detector(extractor="spectrum", tile=128, target_fpr=0.01)
    assert det.get_params()["extractor"] == "spectrum" and det.tile == 128
    assert not [k for k in vars(det) if k.endswith("_")]
    det.set_params(tile=64)
    assert det.tile == 64
    with pytest.raises(UsageError, match="unknown parameter 'nope'"):
        det.set_params(nope=1)


def test_fit_and_predict_proba_on_tiny_data(fitted: Detector) -> None:
    assert list(fitted.classes_) == ["real", "generated"]
    assert fitted.n_features_in_ > 0
    images, labels = tiny_set(6, offset=1000)  # unseen pictures
    proba = fitted.predict_proba(images)
    assert proba.shape == (len(images), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.all((proba >= 0) & (proba <= 1))
    y = np.array([1 if lab == "generated" else 0 for lab in labels])
    assert roc_auc(y, proba[:, 1]) > 0.9
    assert set(fitted.predict(images)) <= {"real", "generated"}


def test_labels_as_strings_or_integers_give_the_same_model() -> None:
    images, labels = tiny_set(8)
    as_int = [1 if lab == "generated" else 0 for lab in labels]
    a = tiny_detector().fit(images, labels)
    b = tiny_detector().fit(images, as_int)
    assert a.threshold_ == b.threshold_
    assert np.array_equal(a.predict_proba(images[:4]), b.predict_proba(images[:4]))
    with pytest.raises(UsageError, match="unknown labels"):
        tiny_detector().fit(images, ["cat"] * len(images))


def test_save_load_round_trip_gives_identical_scores(fitted: Detector, tmp_path: Path) -> None:
    images, _ = tiny_set(4, offset=500)
    fitted.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "MODEL_CARD.md",
        "detector.json",
        "detector.safetensors",
    ]
    loaded = load_detector(tmp_path / "model")
    assert np.array_equal(loaded.predict_proba(images), fitted.predict_proba(images))
    assert loaded.threshold_ == fitted.threshold_
    assert loaded.get_params() == fitted.get_params()
    assert loaded.card.threshold == pytest.approx(fitted.threshold_)
    # Either file of the folder names the model too.
    again = Detector.load(tmp_path / "model" / "detector.safetensors")
    assert np.array_equal(again.predict_proba(images), fitted.predict_proba(images))


def test_refuses_pickle_files(tmp_path: Path) -> None:
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps({"coef": [1, 2, 3]}))
    with pytest.raises(UnsafeFile, match="never unpickles"):
        load_detector(evil)
    disguised = tmp_path / "detector.json"  # pickle bytes under an innocent name
    disguised.write_bytes(pickle.dumps([1]))
    with pytest.raises(UnsafeFile):
        load_detector(disguised)
    folder = tmp_path / "legacy"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(b"PK\x03\x04 zip archive from torch.save or joblib")
    with pytest.raises(UnsafeFile, match=r"model\.joblib"):
        load_detector(folder)


def test_missing_model_is_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound):
        load_detector(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound):
        load_detector(tmp_path / "empty")


def test_threshold_is_chosen_on_validation_and_kept(fitted: Detector, tmp_path: Path) -> None:
    _, labels = tiny_set(12)
    y = np.array([1 if lab == "generated" else 0 for lab in labels])
    oof = fitted.oof_proba_
    assert np.all(np.isfinite(oof))
    # The threshold follows from the out-of-fold scores of the real images, nothing else.
    assert fitted.threshold_ == threshold_at_fpr(oof[y == 0], fitted.target_fpr)
    assert np.mean(oof[y == 0] >= fitted.threshold_) <= fitted.target_fpr
    assert fitted.validation_["fpr"] <= fitted.target_fpr
    before = fitted.threshold_
    test_images, _ = tiny_set(5, offset=2000)
    proba = fitted.predict_proba(test_images)[:, 1]
    assert fitted.threshold_ == before  # predicting never retunes it
    expected = np.where(proba >= before, "generated", "real")
    assert list(fitted.predict(test_images)) == list(expected)
    fitted.save(tmp_path / "m")
    assert load_detector(tmp_path / "m").threshold_ == before


def test_hostile_files_give_per_file_errors_and_the_batch_goes_on(
    fitted: Detector, tmp_path: Path
) -> None:
    good = hostile.write(tmp_path / "good.png", hostile.png_bytes(tiny_image(1, seed=77)))
    files = [
        hostile.write(tmp_path / "empty.jpg", b""),
        hostile.write(
            tmp_path / "truncated.jpg",
            hostile.truncated(hostile.jpeg_bytes(hostile.photo_like((300, 300)))),
        ),
        hostile.write(tmp_path / "bomb.png", hostile.pixel_bomb_png()),
        hostile.write(tmp_path / "text.png", b"this is not an image at all"),
        hostile.write(tmp_path / "tiny.png", hostile.png_bytes(hostile.photo_like((8, 8)))),
        good,
        hostile.write(tmp_path / "anim.gif", hostile.animated_gif()),
        tmp_path / "missing.png",
    ]
    results = list(predict_paths(fitted, files))
    assert [r.path for r in results] == [str(f) for f in files]
    by_name = {Path(r.path).name: r for r in results}
    for name in ("empty.jpg", "truncated.jpg", "bomb.png", "text.png", "missing.png"):
        assert by_name[name].error, name
        assert by_name[name].probability is None
    # too small, or flat: the detector abstains, which is an answer, not an error
    assert "at least" in (by_name["tiny.png"].abstained or "")
    assert by_name["tiny.png"].error is None and by_name["tiny.png"].label == "abstained"
    assert by_name["good.png"].error is None
    assert 0.0 <= (by_name["good.png"].probability or -1) <= 1.0
    assert by_name["good.png"].label in ("likely_synthetic", "no_evidence")
    # its first frame is decoded (32x24 px), but it is one flat colour: the detector abstains
    assert by_name["anim.gif"].label == "abstained"


def test_unknown_extractor_or_head_lists_the_known_ones() -> None:
    images, labels = tiny_set(4)
    with pytest.raises(ValueError, match=r"known: .*grid"):
        Detector(extractor="resnet-magic", cv=2).fit(images, labels)
    with pytest.raises(ValueError, match="known: logistic, novelty"):
        Detector(head="svm", cv=2, tile=64).fit(images, labels)


def test_too_few_images_per_class_is_a_usage_error() -> None:
    images, labels = tiny_set(2)
    with pytest.raises(UsageError, match="at least cv=5"):
        Detector().fit(images, labels)


def test_preprocess_crops_on_the_grid_and_refuses_tiny_images() -> None:
    im = hostile.photo_like((1100, 700))
    cropped = grid_crop(im, 512)
    assert cropped.size == (512, 512)
    # Offsets are multiples of 8: the crop equals the source at an aligned position.
    src = np.asarray(im)
    out = np.asarray(cropped)
    left, top = ((1100 - 512) // 2) // 8 * 8, ((700 - 512) // 2) // 8 * 8
    assert np.array_equal(out, src[top : top + 512, left : left + 512])
    assert Preprocess(quality=75, max_side=512)(im).size == (512, 512)
    with pytest.raises(ImageTooSmall, match="at least 64"):
        Preprocess(min_side=64)(hostile.photo_like((40, 200)))


def test_tiles_are_grid_aligned_and_bounded() -> None:
    det = Detector(tile=64, max_tiles=4, canonical_quality=None)
    tiles = det.tiles(hostile.photo_like((300, 200)))
    assert len(tiles) == 4 and all(t.size == (64, 64) for t in tiles)
    small = det.tiles(hostile.photo_like((50, 40)))
    assert len(small) == 1 and small[0].size == (40, 40)


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


def test_default_model_ships_loads_and_scores() -> None:
    from synthmark.detect import default_model_path

    det = load_detector(None)
    size = sum(p.stat().st_size for p in default_model_path().iterdir())
    assert size <= 20 * 1024 * 1024
    assert list(det.classes_) == ["real", "generated"]
    assert 0.0 < det.threshold_ < 1.0
    card = det.card
    assert card.training_command.startswith("synthmark detect train")
    assert {d.label for d in card.training_data} == {"real", "generated"}
    assert all(d.licence for d in card.training_data)
    assert card.validation["auc"] > 0.5
    p = det.predict_proba([hostile.photo_like((320, 256))])
    assert p.shape == (1, 2)


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


def test_source_folds_hold_whole_sources_out_and_keep_groups_together() -> None:
    from synthmark.detect.validation import source_units, validation_folds

    sources = ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4 + ["e"] * 4
    groups = [f"{s}{i}" for i, s in enumerate(sources)]
    groups[4] = groups[8] = "twin"  # b and c share a near-duplicate: one unit
    y = np.array([0] * 8 + [1] * 12)
    units = source_units(groups, sources)
    assert units[4] == units[8] and units[0] != units[4]
    for train, val in validation_folds(y, groups, sources, 3, "source", 0):
        held = {sources[i] for i in val}
        assert not held & {sources[i] for i in train}
        assert ("b" in held) == ("c" in held)
    with pytest.raises(UsageError, match="at least 2 sources of each class"):
        validation_folds(y, groups, ["r"] * 8 + ["f"] * 12, 3, "source", 0)


def test_fit_features_with_source_folds_matches_fit(tmp_path: Path) -> None:
    from synthmark.detect import ImageFeatures

    images, labels = tiny_set(12)
    sources = [f"{lab}-{i % 3}" for i, lab in enumerate(labels)]
    det = tiny_detector(cv_by="source").fit(images, labels, sources=sources)
    feats = det.features(images)
    again = tiny_detector(cv_by="source").fit_features(feats, labels, sources=sources)
    assert again.threshold_ == det.threshold_
    assert "holding whole sources out" in det.validation_["method"]
    assert set(det.validation_["by_source"]) == set(sources)
    assert isinstance(feats[0], ImageFeatures)
    state, arrays = det._to_state()
    clone = Detector._from_state(state, arrays)
    assert np.array_equal(clone.predict_proba(images[:3]), det.predict_proba(images[:3]))


def test_training_plan_fills_the_card_and_counts_copies(tmp_path: Path) -> None:
    from synthmark.detect.training import TrainingPlan, parse_licences, train

    real, fake = tiny_folders(tmp_path, 6)
    plan = TrainingPlan(
        real=[real],
        fake=[fake],
        detector=tiny_detector(),
        copies=2,
        licences=parse_licences(["real=CC0"]),
        name="tiny",
        command="synthmark detect train ...",
    )
    det = train(plan)
    assert det.training_summary_["n_images"] == 24  # two augmented copies of 12
    card = det.card
    assert card.name == "tiny" and "2 augmented copies" in card.augmentation
    assert {(d.name, d.n_images, d.licence) for d in card.training_data} == {
        ("real", 6, "CC0"),
        ("fake", 6, None),
    }
    with pytest.raises(UsageError, match="SOURCE=TEXT"):
        parse_licences(["no-equals-sign"])


def test_the_weight_free_v1_detector_stays_available_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNTHMARK_MODELS", "/nonexistent")  # it needs no backbone weights
    det = load_detector("grid-v1")
    assert isinstance(det, Detector) and det.extractor == "grid+cooccurrence"
    p = det.predict_proba([hostile.photo_like((320, 256))])
    assert p.shape == (1, 2)
    with pytest.raises(ModelNotFound):
        load_detector("grid-v2")  # a name that is neither packaged nor a path


def test_predict_paths_holds_torch_to_one_thread_per_worker_and_restores_it(
    fitted: Detector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    seen: list[int] = []
    real_proba = fitted.predict_proba

    def spy(images: object) -> object:
        seen.append(torch.get_num_threads())
        return real_proba(images)  # type: ignore[arg-type]

    monkeypatch.setattr(fitted, "predict_proba", spy)
    files = [
        hostile.write(tmp_path / f"{i}.png", hostile.png_bytes(tiny_image(1, seed=i)))
        for i in range(3)
    ]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    fitted.n_jobs = 2
    try:
        assert all(r.error is None for r in predict_paths(fitted, files))
        assert seen == [1, 1, 1] and torch.get_num_threads() == 2
    finally:
        fitted.n_jobs = 1
        torch.set_num_threads(before)


def test_operating_threshold_by_source_keeps_every_real_source_at_the_target() -> None:
    from synthmark.detect.validation import operating_threshold

    # A large real source with low scores and a small one with high scores: the pooled
    # threshold lets the small source be flagged 40% of the time, the per-source one not.
    p = np.r_[np.linspace(0.0, 0.5, 95), np.linspace(0.55, 0.9, 10), np.linspace(0.6, 1.0, 20)]
    y = np.r_[np.zeros(105, dtype=int), np.ones(20, dtype=int)]
    src = np.asarray(["big"] * 95 + ["small"] * 10 + ["gen"] * 20)
    pooled = operating_threshold(p, y, src, 0.05, "pooled")
    per_source = operating_threshold(p, y, src, 0.05, "source")
    assert pooled == threshold_at_fpr(p[y == 0], 0.05)
    assert np.mean(p[src == "small"] >= pooled) == pytest.approx(0.5)
    for s in ("big", "small"):
        assert np.mean(p[src == s] >= per_source) <= 0.05
    assert per_source > pooled
    with pytest.raises(UsageError, match="threshold_by"):
        operating_threshold(p, y, src, 0.05, "mean")


def test_detector_threshold_by_source_bounds_each_real_source_out_of_fold() -> None:
    images, labels = tiny_set(12)
    sources = [f"{lab}-{i % 3}" for i, lab in enumerate(labels)]
    det = tiny_detector(cv_by="source", threshold_by="source").fit(images, labels, sources=sources)
    y = np.array([lab == "generated" for lab in labels])
    src = np.asarray(sources)
    for s in {s for s, g in zip(sources, y, strict=True) if not g}:
        assert np.mean(det.oof_proba_[src == s] >= det.threshold_) <= det.target_fpr
    for name, info in det.validation_["by_source"].items():
        if info["label"] == "real":
            assert info["flagged"] <= det.target_fpr, name
    assert "each training source" in det.card.to_markdown()
    assert "each training source" not in tiny_detector().fit(images, labels).card.to_markdown()
    with pytest.raises(UsageError, match="threshold_by"):
        tiny_detector(threshold_by="worst").fit(images, labels)
