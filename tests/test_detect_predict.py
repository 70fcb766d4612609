"""synthmark.detect.predict: batch prediction over files, hostile files, thread use."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.detect import Detector, predict_paths
from tests import hostile
from tests.detect_images import tiny_image


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
