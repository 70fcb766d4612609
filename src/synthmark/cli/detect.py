"""``synthmark detect``: train and run the real-vs-generated detector."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.cli._common import (
    PathsArgument,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
    state,
)

app = typer.Typer(help="Train and run the real-vs-generated image detector.", no_args_is_help=True)


class Head(str, enum.Enum):
    """Registered heads."""

    novelty = "novelty"
    logistic = "logistic"


def _parse_licences(items: list[str]) -> dict[str, str]:
    from synthmark.errors import UsageError

    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text.strip():
            raise UsageError(f"--licence takes SOURCE=TEXT, got {item!r}")
        out[name.strip()] = text.strip()
    return out


@app.command()
def train(
    ctx: typer.Context,
    real: Annotated[
        list[Path],
        typer.Option("--real", help="Folder (or file, glob) of real photos; repeatable."),
    ],
    fake: Annotated[
        list[Path], typer.Option("--fake", help="Folder of generated images; repeatable.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the model into.")],
    extractor: Annotated[
        str, typer.Option(help="Feature extractor(s), e.g. grid or grid+spectrum.")
    ] = "grid",
    head: Annotated[Head, typer.Option(help="Classifier head.")] = Head.logistic,
    target_fpr: Annotated[
        float,
        typer.Option(
            help="False-positive rate on real validation images the threshold is set for."
        ),
    ] = 0.05,
    tile: Annotated[int, typer.Option(help="Tile side in pixels (multiple of 8).")] = 256,
    augment: Annotated[
        bool, typer.Option(help="Random re-encode/resize/blur, alike for both classes.")
    ] = True,
    half_resize: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --augment: probability of halving an image exactly (both classes "
            "alike), so the features also learn the 4 px pattern a 0.5 resize leaves; "
            "0.2 helps after resizing but flags more heavily compressed real photos.",
        ),
    ] = 0.0,
    cv: Annotated[int, typer.Option(help="Validation folds (split by near-duplicate group).")] = 5,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, help="Threads for feature extraction (0: all cores)."
        ),
    ] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    licence: Annotated[
        list[str] | None,
        typer.Option(help="SOURCE=TEXT licence line for the model card; repeatable."),
    ] = None,
    name: Annotated[str, typer.Option(help="Model name for the card.")] = "synthmark detector",
) -> None:
    """Train a detector on folders of real and generated images and save it.

    Every image is cropped (never resized) and re-encoded alike; validation folds never split
    a near-duplicate group; the threshold is fixed for --target-fpr on real validation images.

    Example:

        synthmark detect train --real photos/ --fake sd15/ -o my-detector
    """
    import shlex
    import sys
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from synthmark.detect import Augment, DataSource, Detector, TrainingImages, collect

    st = state(ctx)
    console = st.console
    licences = _parse_licences(licence or [])
    samples = collect(real, fake)
    augmenter = Augment(p_half=half_resize) if augment else None
    images = TrainingImages(samples, augmenter, seed=seed)
    det = Detector(
        extractor=extractor,
        head=head.value,
        target_fpr=target_fpr,
        tile=tile,
        cv=cv,
        n_jobs=jobs,
        random_state=seed,
    )
    console.print(
        f"Training on {int((images.labels == 0).sum())} real and {int((images.labels == 1).sum())} "
        f"generated images from {len({s.source for s in samples})} sources"
    )
    started = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=st.quiet,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done)

        det.fit(
            images,
            images.labels,
            groups=[s.group for s in samples],
            sources=[s.source for s in samples],
            progress=progress,
        )
    card = det.card
    card.name = name
    card.training_seconds = time.perf_counter() - started
    card.augmentation = augmenter.describe() if augmenter else "none"
    args = sys.argv[sys.argv.index("train") + 1 :] if "train" in sys.argv else []
    card.training_command = "synthmark detect train " + " ".join(shlex.quote(a) for a in args)
    per_source: dict[str, tuple[str, int, str]] = {}
    for s in samples:
        label = "generated" if s.label else "real"
        _, n, path = per_source.get(s.source, (label, 0, ""))
        root = next((str(p) for p in (*real, *fake) if (Path(p).name or str(p)) == s.source), "")
        per_source[s.source] = (label, n + 1, root or path)
    card.training_data = [
        DataSource(name=k, label=v[0], n_images=v[1], path=v[2], licence=licences.get(k))
        for k, v in per_source.items()
    ]
    det.save(output, card)
    v = det.validation_
    console.print(f"Saved to {plain(str(output))} in {card.training_seconds / 60:.1f} min")
    console.print(
        f"Validation ({plain(v['method'])}): AUC {v['auc']:.3f}, balanced accuracy "
        f"{v['balanced_accuracy']:.3f} at threshold {det.threshold_:.4f} "
        f"(TPR {v['tpr']:.3f}, FPR {v['fpr']:.3f}; target FPR {target_fpr:.3f})"
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
            exists=True,
            help="Saved detector folder (default: the packaged model).",
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
        typer.Argument(exists=True, help="Saved detector folder (default: the packaged model)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="The card as JSON.")] = False,
) -> None:
    """Print a detector's model card: data, licences, metrics, threshold, limits."""
    from synthmark.detect import load_detector

    det = load_detector(model)
    if json_out:
        emit_json(det.card.to_dict())
    else:
        typer.echo(det.card.to_markdown())
