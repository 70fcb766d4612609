"""synthmark.detect.detector: fit/predict on tiny data, persistence, pickle refusal, threshold."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from synthmark.detect import Detector, load_detector
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError
from synthmark.metrics import roc_auc, threshold_at_fpr
from tests import hostile
from tests.detect_images import tiny_detector, tiny_set


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


def test_unknown_extractor_or_head_lists_the_known_ones() -> None:
    images, labels = tiny_set(4)
    with pytest.raises(ValueError, match=r"known: .*grid"):
        Detector(extractor="resnet-magic", cv=2).fit(images, labels)
    with pytest.raises(ValueError, match="known: logistic, mlp, novelty"):
        Detector(head="svm", cv=2, tile=64).fit(images, labels)


def test_too_few_images_per_class_is_a_usage_error() -> None:
    images, labels = tiny_set(2)
    with pytest.raises(UsageError, match="at least cv=5"):
        Detector().fit(images, labels)


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
