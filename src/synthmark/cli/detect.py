"""``synthmark detect``: train and run the real-vs-generated detector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.choices import DetectorExport as ExportFormat
from synthmark.choices import DetectorHead as Head
from synthmark.choices import FoldSplit as CvBy
from synthmark.choices import ThresholdRule as ThresholdBy
from synthmark.cli._common import (
    PathsArgument,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
    state,
)

app = typer.Typer(help="Train and run the real-vs-generated image detector.", no_args_is_help=True)


#: The shipped default model's training settings (the defaults of ``detect train``).
DEFAULT_EXTRACTOR = "mobilenetv2"
DEFAULT_TILE = 320
DEFAULT_MAX_TILES = 4
DEFAULT_TILE_MULTIPLE = 32
DEFAULT_THRESHOLD_BY = "source"


_Real = Annotated[
    list[Path], typer.Option("--real", help="Folder (or file, glob) of real photos; repeatable.")
]
_Fake = Annotated[
    list[Path], typer.Option("--fake", help="Folder of generated images; repeatable.")
]
_Extractor = Annotated[
    str, typer.Option(help="Feature extractor(s), e.g. mobilenetv2 or grid+cooccurrence.")
]
_ExtractorParams = Annotated[
    str | None,
    typer.Option(
        "--extractor-args",
        help="The extractor's parameters as JSON; the shipped default model uses "
        '\'{"stats": ["mean", "std", "absmean"], "scales": [1, 0.5]}\' with mobilenetv2 '
        "(the statistics of each tile and of its half-size copy).",
    ),
]
_HeadParams = Annotated[
    str | None,
    typer.Option(
        "--head-args",
        help="The head's parameters as JSON; the shipped default model uses "
        '\'{"nuisance": 6, "within": 15}\' with the logistic head (drop the 6 directions '
        "that tell the real training sources apart and the 15 along which real photos vary "
        "most inside their sources).",
    ),
]
_TargetFpr = Annotated[
    float,
    typer.Option(help="False-positive rate on real validation images the threshold is set for."),
]
_ThresholdBy = Annotated[
    ThresholdBy,
    typer.Option(
        help="pooled: the target FPR over all real validation images; source: at most the "
        "target FPR on each real source (a lower TPR)."
    ),
]
_MaxTiles = Annotated[int, typer.Option(min=1, help="Tiles per image at most.")]
_TileMultiple = Annotated[
    int, typer.Option(help="A smaller tile's side is a multiple of this (8 or 32).")
]
_Augment = Annotated[
    bool, typer.Option(help="Random re-encode/resize/blur, alike for both classes.")
]
_HalfResize = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="With --augment: probability of halving an image exactly (both classes alike).",
    ),
]
_CvBy = Annotated[
    CvBy, typer.Option(help="Folds hold whole sources out, or split by near-duplicate group.")
]
_Jobs = Annotated[
    int, typer.Option("--jobs", "-j", min=0, help="Threads for feature extraction (0: all cores).")
]
_Licence = Annotated[
    list[str] | None,
    typer.Option(help="SOURCE=TEXT licence line for the model card; repeatable."),
]


def _existing_model(value: Path | None) -> Path | None:
    """A model option must name an existing path or a packaged model (usage error, exit 2)."""
    from synthmark.detect.loading import PACKAGED

    if value is not None and not value.exists() and str(value) not in PACKAGED:
        raise typer.BadParameter(f"Path '{value}' does not exist.")
    return value


@app.command()
def train(
    ctx: typer.Context,
    real: _Real,
    fake: _Fake,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the model into.")],
    extractor: _Extractor = DEFAULT_EXTRACTOR,
    extractor_params: _ExtractorParams = None,
    head: Annotated[Head, typer.Option(help="Classifier head.")] = Head.logistic,
    head_params: _HeadParams = None,
    target_fpr: _TargetFpr = 0.05,
    threshold_by: _ThresholdBy = ThresholdBy(DEFAULT_THRESHOLD_BY),
    tile: Annotated[int, typer.Option(help="Tile side in pixels (multiple of 8).")] = DEFAULT_TILE,
    max_tiles: _MaxTiles = DEFAULT_MAX_TILES,
    tile_multiple: _TileMultiple = DEFAULT_TILE_MULTIPLE,
    augment: _Augment = True,
    half_resize: _HalfResize = 0.0,
    copies: Annotated[int, typer.Option(min=1, help="Augmented copies of each image.")] = 1,
    cv: Annotated[int, typer.Option(help="Validation folds.")] = 5,
    cv_by: _CvBy = CvBy.source,
    jobs: _Jobs = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    licence: _Licence = None,
    name: Annotated[str, typer.Option(help="Model name for the card.")] = "synthmark detector",
) -> None:
    """Train a detector on folders of real and generated images and save it.

    Every image is cropped (never resized) and re-encoded alike; validation folds hold whole
    sources out (--cv-by source) and never split a near-duplicate group; the threshold is
    fixed for --target-fpr on real validation images. Each folder is one source. The
    mobilenetv2 extractor's pinned weights come from the home cache, from $SYNTHMARK_MODELS
    (a folder laid out like shared/models), or are downloaded once and checked by sha256.

    Example:

        synthmark detect train --real photos/ --fake sd15/ -o my-detector
    """
    import sys

    from synthmark.cli._common import progress_bar
    from synthmark.detect import Augment, Detector
    from synthmark.detect.training import TrainingPlan, parse_licences, train, training_command

    st = state(ctx)
    det = Detector(
        extractor=extractor,
        extractor_params=_json_object(extractor_params, "--extractor-args"),
        head=head.value,
        head_params=_json_object(head_params, "--head-args"),
        target_fpr=target_fpr,
        threshold_by=threshold_by.value,
        tile=tile,
        max_tiles=max_tiles,
        tile_multiple=tile_multiple,
        cv=cv,
        cv_by=cv_by.value,
        n_jobs=jobs,
        random_state=seed,
    )
    plan = TrainingPlan(
        real=real,
        fake=fake,
        detector=det,
        augment=Augment(p_half=half_resize) if augment else None,
        copies=copies,
        seed=seed,
        licences=parse_licences(licence or []),
        name=name,
        command=training_command(sys.argv),
    )
    with progress_bar(st.console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        train(plan, progress)
    det.save(output, det.card)
    _report_training(st.console, det, output)


def _json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """A JSON object given on the command line (a usage error, exit 2, otherwise)."""
    import json

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON ({exc})", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(f"must be a JSON object, got {text!r}", param_hint=option)
    return value


def _report_training(console: Any, det: Any, output: Path) -> None:
    v, card = det.validation_, det.card
    summary = det.training_summary_
    console.print(
        f"Trained on {summary['n_real']} real and {summary['n_generated']} generated images "
        f"from {len(summary['sources'])} sources"
    )
    console.print(f"Saved to {plain(str(output))} in {card.training_seconds / 60:.1f} min")
    console.print(
        f"Validation ({plain(v['method'])}): AUC {v['auc']:.3f}, balanced accuracy "
        f"{v['balanced_accuracy']:.3f} at threshold {det.threshold_:.4f} "
        f"(TPR {v['tpr']:.3f}, FPR {v['fpr']:.3f}; target FPR {det.target_fpr:.3f})"
    )
    for src, info in v.get("by_source", {}).items():
        console.print(f"  {plain(src)}: {info['n']} {info['label']}, flagged {info['flagged']:.1%}")


@app.command()
def predict(
    ctx: typer.Context,
    paths: PathsArgument,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            callback=_existing_model,
            help="Saved detector folder, an exported .onnx file run through onnxruntime, or "
            "grid-v1 (the packaged weight-free detector v1); default: the packaged model.",
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Threads.")] = 1,
) -> None:
    """Print P(generated) and a label for each image, in screen's words.

    The label is likely_synthetic at or above the model's own threshold and no_evidence
    below it (a low score never proves a photo real), or abstained, with the reason, for an
    image outside the detector's domain (flat graphics, too small). A file that cannot be
    read gets an error line (JSON: an "error" key) and the batch goes on; the exit status is
    then 1, with Error: ... on stderr.

    Example:

        synthmark detect predict photos/ --json

        synthmark detect predict photos/ --model detector.onnx
    """
    import itertools

    from synthmark.detect import FilePrediction, load_detector, predict_paths
    from synthmark.imaging import expand_inputs

    st = state(ctx)
    det = load_detector(model)
    det.n_jobs = jobs
    items = list(expand_inputs(input_args(paths)))
    failed: list[tuple[str, str]] = []
    good = [str(i.path) for i in items if i.error is None]
    unlisted = [(str(i.path), i.error) for i in items if i.error is not None]
    results = [FilePrediction(path=path, error=error) for path, error in unlisted]
    for res in itertools.chain(results, predict_paths(det, good)):
        if res.error is not None:
            failed.append((res.path, res.error))
            if json_out:
                emit_json({"path": res.path, "error": res.error})
            else:
                st.console.print(f"{plain(res.path)}: error: {plain(res.error)}")
        elif json_out:
            record: dict[str, Any] = {"path": res.path, "label": res.label}
            if res.abstained is not None:
                record["reason"] = res.abstained
            else:
                record.update(probability=res.probability, threshold=res.threshold)
            emit_json(record)
        elif res.abstained is not None:
            typer.echo(f"-\t{res.label}\t{res.path}\t{res.abstained}")
        else:
            typer.echo(f"{res.probability:.4f}\t{res.label}\t{res.path}")
    fail_unreadable(failed, len(items))


@app.command()
def card(
    model: Annotated[
        Path | None,
        typer.Argument(
            callback=_existing_model,
            help="Saved detector folder or grid-v1 (default: the packaged model).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The card as JSON.")] = False,
) -> None:
    """Print a detector's model card: data, licences, metrics, threshold, limits."""
    from synthmark.detect import Detector
    from synthmark.detect.loading import model_path

    det = Detector.load(model_path(model))
    if json_out:
        emit_json(det.card.to_dict())
    else:
        typer.echo(det.card.to_markdown())


@app.command()
def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Export format.")
    ] = ExportFormat.onnx,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="Saved detector folder or grid-v1 (default: the packaged model)."
        ),
    ] = None,
) -> None:
    """Write the detector (backbone and head) as one ONNX file, for phones and other runtimes.

    The graph takes the canonical tiles of one image (float32 RGB 0-255, N x 3 x H x W) and
    gives P(generated); the preprocessing that makes the tiles and the threshold are in the
    file's metadata (key "synthmark"). Run it with `synthmark detect predict --model FILE`.

    Example:

        synthmark detect export --format onnx -o detector.onnx
    """
    from synthmark.detect import Detector, export_onnx
    from synthmark.detect.loading import model_path

    st = state(ctx)
    det = Detector.load(model_path(model))
    path = export_onnx(det, output)
    size = path.stat().st_size / 1e6
    st.console.print(
        f"Wrote {plain(str(path))} ({size:.1f} MB, {fmt.value}); preprocessing and threshold "
        "are in its metadata"
    )
