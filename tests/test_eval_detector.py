"""``synthmark eval detector``: alignment, caching, and the report against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.detect import load_detector
from synthmark.eval.datasets import discover
from synthmark.eval.detector_eval import Alignment, evaluate_detector
from tests import hostile

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def fixture_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six 'real' and six 'fake' files of mixed formats and sizes, two fake sources."""
    root = tmp_path_factory.mktemp("evalset")
    rng = np.random.default_rng(0)
    for i in range(6):
        photo = hostile.photo_like((300 + 20 * i, 260), seed=i)
        (root / "real").mkdir(exist_ok=True)
        photo.save(root / "real" / f"r{i}.jpg", quality=92)
        noise = rng.normal(128, 40, (256, 256, 3)).clip(0, 255).astype(np.uint8)
        sub = root / "fake" / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(noise).save(sub / f"f{i}.png")
    return root


def test_alignment_crops_and_reencodes_both_classes_alike() -> None:
    image = hostile.photo_like((640, 400))
    aligned = Alignment(side=256, quality=90)(image)
    assert aligned.size == (256, 256)
    small = Alignment(side=512)(hostile.photo_like((300, 200)))
    assert small.size == (200, 200)
    assert Alignment(enabled=False)(image) is image
    # the crop went through the same JPEG encoder: pixels change, deterministically
    crop = np.asarray(image.crop((192, 72, 448, 328)), int)
    assert np.abs(np.asarray(aligned, int) - crop).mean() > 0.5
    assert np.array_equal(np.asarray(aligned), np.asarray(Alignment(side=256, quality=90)(image)))


def test_report_matches_scikit_learn(fixture_set: Path, tmp_path: Path) -> None:
    samples = discover(real=[fixture_set / "real"], fake=[fixture_set / "fake"])
    alignment = Alignment(side=256)
    result = evaluate_detector(
        samples,
        perturbations=["none", "jpeg:75"],
        alignment=alignment,
        cache_dir=tmp_path / "cache",
        n_boot=0,
    )
    detector = load_detector()
    images = [alignment(Image.open(s.path).convert("RGB")) for s in samples]
    scores = detector.predict_proba(images)[:, 1]
    y = np.array([s.label for s in samples])
    assert np.allclose(result.scores["none"], scores, atol=1e-5)
    clean = result.overall["none"]
    assert clean.auc == pytest.approx(roc_auc_score(y, scores), abs=1e-6)
    assert clean.ap == pytest.approx(average_precision_score(y, scores), abs=1e-6)
    predicted = (scores >= detector.threshold_).astype(int)
    assert clean.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, predicted))
    assert clean.threshold == pytest.approx(detector.threshold_)
    assert set(result.by_source["none"]) == {"a", "b"}
    # a second run reads every feature from the cache
    again = evaluate_detector(
        samples,
        perturbations=["none", "jpeg:75"],
        alignment=alignment,
        cache_dir=tmp_path / "cache",
        n_boot=0,
    )
    assert again.cache_misses == 0 and again.cache_hits == 2 * len(samples)
    assert again.scores == result.scores


def test_cli_writes_report_metrics_and_plots(fixture_set: Path, tmp_path: Path) -> None:
    (fixture_set / "fake" / "a" / "broken.png").write_bytes(b"not an image")
    try:
        out = tmp_path / "report"
        result = CliRunner().invoke(
            app,
            [
                "eval",
                "detector",
                "--real",
                str(fixture_set / "real"),
                "--fake",
                str(fixture_set / "fake"),
                "--grid",
                "none,resize:0.5",
                "--bootstrap",
                "50",
                "--workers",
                "1",
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
    finally:
        (fixture_set / "fake" / "a" / "broken.png").unlink()
    report = (out / "report.md").read_text()
    assert report.startswith("# Detector evaluation")
    assert "| perturbation | AUC |" in report.split("##")[0]  # the summary table comes first
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("auc", "ap", "balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_5pct_fpr", "ece"):
        assert key in metrics["overall"]
        assert key in metrics["per_perturbation"]["resize:0.5"]
        assert key in metrics["per_source"]["a"]
    assert metrics["skipped"][0]["path"].endswith("broken.png")
    for plot in (
        "roc_per_source.png",
        "accuracy_vs_perturbation.png",
        "reliability.png",
        "score_histogram.png",
    ):
        assert (out / plot).stat().st_size > 1000


def test_leave_one_family_out_never_scores_a_family_it_trained_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthmark.detect import Augment, Detector
    from synthmark.eval.detector_crossval import (
        CrossvalSample,
        compute_features,
        leave_one_family_out,
    )
    from tests.detect_images import tiny_image

    samples = []
    for i in range(24):
        label = i % 2
        family = (
            ["cam-a", "cam-b", "cam-c"][i // 2 % 3]
            if label == 0
            else ["gen-x", "gen-y", "gen-z"][i // 2 % 3]
        )
        path = tmp_path / f"{family}_{i}.png"
        tiny_image(label, seed=i).save(path)
        samples.append(CrossvalSample(path, label, f"src-{family}", family, f"g{i}"))
    recipe = Detector(tile=64, max_tiles=1, cv=2, cv_by="source", target_fpr=0.2)
    views = ("aligned", "aligned+jpeg:75")
    cache = tmp_path / "cache"
    from synthmark.eval.detector_eval import Alignment

    align = Alignment(True, 96, 90)
    feats = compute_features(recipe, samples, views, Augment(), align, cache)
    assert {k: len(v) for k, v in feats.items()} == {
        "train": 24,
        "aligned": 24,
        "aligned+jpeg:75": 24,
    }
    again = compute_features(recipe, samples, views, Augment(), align, cache)
    pairs = zip(feats["aligned"], again["aligned"], strict=True)
    assert all(np.array_equal(a.tiles, b.tiles) for a, b in pairs)

    trained_on: list[set[str]] = []
    real_fit = Detector.fit_features

    def spy(
        self: Detector,
        feats: object,
        labels: object,
        groups: object = None,
        sources: object = None,
        *args: object,
        **kwargs: object,
    ) -> Detector:
        trained_on.append(set(sources))  # type: ignore[arg-type]
        return real_fit(self, feats, labels, groups, sources, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Detector, "fit_features", spy)
    result = leave_one_family_out(recipe, samples, feats, views)
    families = sorted({s.family for s in samples})
    assert sorted(result.thresholds) == families and len(trained_on) == len(families)
    for family, seen in zip(families, trained_on, strict=True):
        assert f"src-{family}" not in seen
    for v in views:
        assert np.all(np.isfinite(result.proba[v]))
        summary = result.summary(v)
        assert summary["n_real"] == 12 and 0.0 <= summary["auc"] <= 1.0
    rows = result.by_source("aligned")
    assert rows["src-gen-x"]["label"] == "generated" and "auc" in rows["src-gen-x"]
    assert rows["src-cam-a"]["label"] == "real" and "auc" not in rows["src-cam-a"]


def test_crossval_benchmark_families_keep_near_duplicates_together(shared_data: Path) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "detector_crossval.py"
    spec = importlib.util.spec_from_file_location("detector_crossval", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    samples = bench.shared_samples(shared_data)
    families = {s.family for s in samples}
    assert families == {
        "sd1",
        "sd2",
        "sdxl+sd3",
        "flux",
        "other",
        "unsplash",
        "corel-scans",
        "sun-hays",
        "dreambooth+exif",
        "polyu",
    }
    family_of_group: dict[str, set[str]] = {}
    for s in samples:
        family_of_group.setdefault(s.group, set()).add(s.family)
    straddling = {g: f for g, f in family_of_group.items() if len(f) > 1}
    # Only groups that are not near twins may straddle a fold: a DrawBench prompt drawn by
    # SD 2.1 and by SD 1.4/1.5 (other weights; the 1.4/1.5 twins stay together), and the
    # mflux test folder, whose files are different models' outputs.
    for group, fams in straddling.items():
        assert (group.startswith("sd14_sd15_sd21_drawbench/") and fams == {"sd1", "sd2"}) or (
            group.startswith("gen_mflux/")
        ), (group, fams)
    twins = [s for s in samples if s.source == "sd14_sd15_sd21_drawbench"]
    by_stem: dict[str, set[str]] = {}
    for s in twins:
        if s.path.parent.name in ("sd14", "sd15"):
            by_stem.setdefault(s.path.stem, set()).add(s.family)
    assert all(f == {"sd1"} for f in by_stem.values())
    tiles = [s for s in samples if s.box is not None]
    assert len(tiles) == 400 and all(s.family == "sd1" for s in tiles)
    assert {s.label for s in samples if s.family == "polyu"} == {0}
    small = bench.shared_samples(shared_data, per_source=3)
    assert max(sum(s.source == x.source for s in small) for x in small) == 3


@pytest.mark.parametrize(
    "grid",
    [
        ["none"],
        ["none", "jpeg:75", "resize:0.5"],
        ["none", "jpeg:95", "jpeg:75", "resize:0.5", "resize:0.25", "blur:1", "blur:2", "social"],
    ],
)
def test_perturbation_plot_fits_its_title_with_any_grid(grid: list[str], tmp_path: Path) -> None:
    from types import SimpleNamespace

    from synthmark.eval import detector_report

    metric = SimpleNamespace(balanced_accuracy=0.8, auc=0.9, ece=0.05)
    result = SimpleNamespace(
        perturbations=grid,
        overall={g: metric for g in grid},
        by_source={"none": {"sd": metric}},
        labels=[0, 1, 0, 1],
        sources=["real", "sd", "real", "sd"],
        scores={"none": [0.1, 0.9, 0.2, 0.7]},
        threshold=0.5,
    )
    detector_report._plots(result, tmp_path)  # type: ignore[arg-type]
    with Image.open(tmp_path / "accuracy_vs_perturbation.png") as im:
        width = im.size[0]
    figure = detector_report._perturbation_figure(result)  # type: ignore[arg-type]
    figure.canvas.draw()
    title = figure._suptitle.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= figure.bbox.width
    assert width >= 600  # 352 px before: the title was cut off at both ends


def test_training_augmentation_of_an_image_does_not_depend_on_its_place_in_the_list(
    tmp_path: Path,
) -> None:
    """A subset run (--per-source) and the full run draw the same augmentation for an image,
    so the cache never holds one draw under the key of another (fails with a draw seeded by
    list position)."""
    from synthmark.detect import Augment, Detector
    from synthmark.eval.detector_crossval import CrossvalSample, compute_features
    from tests.detect_images import tiny_image

    samples = []
    for i in range(6):
        path = tmp_path / f"im{i}.png"
        tiny_image(i % 2, seed=i).save(path)
        samples.append(CrossvalSample(path, i % 2, f"s{i % 2}", f"f{i % 2}", f"g{i}"))
    recipe = Detector(tile=64, max_tiles=1)
    from synthmark.eval.detector_eval import Alignment

    align = Alignment(True, 96, 90)
    augment = Augment(p_half=0.5)
    full = compute_features(recipe, samples, (), augment, align, None)["train"]
    rev = compute_features(recipe, samples[::-1], (), augment, align, None)["train"][::-1]
    for a, b in zip(full, rev, strict=True):
        np.testing.assert_array_equal(a.tiles, b.tiles)
