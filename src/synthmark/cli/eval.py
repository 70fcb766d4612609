"""``synthmark eval``: measure detector accuracy and watermark robustness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthmark.cli._common import ATTACK_NAMES, plain, progress_bar, state

app = typer.Typer(
    help="Measure detector accuracy and watermark robustness, with readable reports.",
    no_args_is_help=True,
)

DEFAULT_GRID = (
    "none,jpeg:95,jpeg:75,jpeg:50,webp:75,resize:0.75,resize:0.5,resize:0.25,"
    "crop:0.5,blur:1,blur:2,noise:5,social"
)


RealOption = Annotated[list[Path], typer.Option("--real", help="Folder(s) of real photos.")]
FakeOption = Annotated[list[Path], typer.Option("--fake", help="Folder(s) of generated images.")]
DataOption = Annotated[
    list[Path],
    typer.Option(
        "--data",
        help="GenImage (ai/, nature/) or CNNDetection (0_real/, 1_fake/) "
        "root, or a CSV manifest (path,label[,source]).",
    ),
]
ReportOption = Annotated[Path, typer.Option("-o", "--output", help="Report folder.")]
DetectorOption = Annotated[
    Path | None,
    typer.Option("--model", exists=True, help="Detector folder (default: built in)."),
]
GridOption = Annotated[
    str,
    typer.Option(
        help=f"Comma-separated perturbations, each one of: {ATTACK_NAMES}; 'none' alone "
        "for no grid (default: none, jpeg:95, jpeg:75, jpeg:50, webp:75, resize:0.75, "
        "resize:0.5, resize:0.25, crop:0.5, blur:1, blur:2, noise:5, social).",
        show_default=False,
    ),
]
AlignOption = Annotated[
    bool,
    typer.Option(
        "--align/--no-align", help="Centre-crop and re-encode both classes alike (recommended)."
    ),
]
AlignSideOption = Annotated[int, typer.Option(min=64, help="Alignment crop side.")]
AlignQualityOption = Annotated[
    int, typer.Option(min=1, max=100, help="Alignment JPEG quality.")
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        min=2,
        help="At most this many images per class and source (evenly spaced), for quick runs.",
    ),
]
WorkersOption = Annotated[int, typer.Option(min=1, help="Worker processes.")]
BootstrapOption = Annotated[
    int, typer.Option(min=0, help="Bootstrap replicates for the 95% CIs.")
]
CacheOption = Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse cached features.")]


@app.command("detector")
def detector(
    ctx: typer.Context,
    real: RealOption = [],  # noqa: B006
    fake: FakeOption = [],  # noqa: B006
    data: DataOption = [],  # noqa: B006
    output: ReportOption = Path("eval-detector"),
    model: DetectorOption = None,
    grid: GridOption = DEFAULT_GRID,
    align: AlignOption = True,
    align_side: AlignSideOption = 512,
    align_quality: AlignQualityOption = 90,
    limit: LimitOption = None,
    workers: WorkersOption = 2,
    bootstrap: BootstrapOption = 1000,
    cache: CacheOption = True,
) -> None:
    """Evaluate a detector: AUC, AP, balanced accuracy at the model's own threshold, TPR at
    1% and 5% FPR, EER and ECE with 95% bootstrap intervals, per source and per perturbation.

    Writes OUTPUT/report.md (summary table first), OUTPUT/metrics.json and PNG plots.

    Examples:
      synthmark eval detector --real photos/ --fake sd15/ -o report/
      synthmark eval detector --data GenImage/ --grid none,jpeg:75,resize:0.5
    """

    from synthmark.attacks import parse_attacks
    from synthmark.eval.datasets import discover, thin
    from synthmark.eval.detector_eval import Alignment, evaluate_detector
    from synthmark.eval.detector_report import write_report
    from synthmark.eval.feature_cache import default_cache_dir

    st = state(ctx)
    perturbations = [p.strip() for p in grid.split(",") if p.strip()]
    parse_attacks(perturbations)  # a bad name is a usage error before any work
    samples = discover(real=real, fake=fake, data=data)
    if limit is not None:
        samples = thin(samples, limit)
    with progress_bar(st.console, "features") as bar:
        task = bar.add_task("features", total=len(samples))
        result = evaluate_detector(
            samples,
            model=str(model) if model else None,
            perturbations=perturbations,
            alignment=Alignment(enabled=align, side=align_side, quality=align_quality),
            cache_dir=default_cache_dir(st.settings.home) if cache else None,
            workers=workers,
            n_boot=bootstrap,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    report = write_report(result, output)
    clean = result.overall["none"]
    st.console.print(
        f"{result.n_images} images, {len(result.perturbations)} conditions in "
        f"{result.seconds:.0f} s: AUC {clean.auc:.3f}, balanced accuracy "
        f"{clean.balanced_accuracy:.3f} at threshold {result.threshold:.3f}"
    )
    st.console.print(f"Report: {plain(str(report))}")


@app.command("watermark")
def watermark(
    ctx: typer.Context,
    images: Annotated[
        list[Path], typer.Option("--images", help="Folder(s) of images to mark and attack.")
    ],
    schemes: Annotated[
        str, typer.Option(help="Comma-separated schemes (synthmark, dwtDct, dwtDctSvd, rivaGan).")
    ] = "synthmark,dwtDct,dwtDctSvd,rivaGan",
    output: Annotated[Path, typer.Option("-o", "--output", help="Report folder.")] = Path(
        "eval-watermark"
    ),
    n: Annotated[int, typer.Option("-n", min=1, help="Images per scheme and size.")] = 50,
    sizes: Annotated[str, typer.Option(help="Square sizes, comma-separated.")] = "512",
    attacks: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated attacks, each one of: {ATTACK_NAMES} (default: the full "
            "eval set)."
        ),
    ] = None,
    slow_n: Annotated[
        int, typer.Option(help="Images for rivaGan (about 1 s per embed and per read).")
    ] = 10,
    unmarked: Annotated[
        int | None, typer.Option(help="At most this many unmarked images for the FPR.")
    ] = None,
    security: Annotated[
        bool,
        typer.Option(
            "--security/--no-security",
            help="Also run synthmark's security attacks: copy onto other images of the set, "
            "averaging, and regeneration (TAEF2 weights from $SYNTHMARK_REGEN_WEIGHTS or "
            "models/taef2 in the home folder; skipped with a note when absent).",
        ),
    ] = True,
) -> None:
    """Evaluate watermark schemes on your images: bit accuracy, exact-payload rate, TPR at
    each scheme's threshold with the FPR measured on the same images unmarked, PSNR, SSIM,
    and embed/read time, for every attack (the watermark targets' set plus WebP, a
    screenshot-like rescale with sharpening, and a crop-plus-pad).

    Writes OUTPUT/report.md (summary table first), OUTPUT/results.json and heat maps.

    Example: synthmark eval watermark --images photos/ --schemes synthmark,dwtDct -n 20
    """
    from synthmark.errors import UsageError
    from synthmark.eval.watermark_bench import BenchConfig, parse_sizes, run_benchmark
    from synthmark.eval.watermark_report import EVAL_ATTACKS, write_report
    from synthmark.eval.watermark_security import SecurityConfig
    from synthmark.watermark import list_schemes

    st = state(ctx)
    chosen = [s.strip() for s in schemes.split(",") if s.strip()]
    embeddable = [s for s in list_schemes() if s not in ("sd1", "sd2", "sdxl")]
    unknown = [s for s in chosen if s not in embeddable]
    if unknown:
        raise UsageError(f"unknown scheme {unknown[0]!r}; known: {', '.join(embeddable)}")
    size_list = parse_sizes(sizes)
    attack_list = [a.strip() for a in attacks.split(",")] if attacks else list(EVAL_ATTACKS)
    if "none" not in attack_list:
        attack_list.insert(0, "none")
    config = BenchConfig(
        data_dir=list(images),
        schemes=chosen,
        attacks=attack_list,
        sizes=size_list,
        n_images=n,
        scheme_images={"rivaGan": min(n, slow_n)},
        scheme_sizes={"rivaGan": size_list[:1]},
        unmarked_limit=unmarked,
        scheme_unmarked={"rivaGan": min(unmarked or 30, 30)},
        timing_2048=0,
        security=SecurityConfig(host_prefix="") if security and "synthmark" in chosen else None,
    )
    result = run_benchmark(config, progress=lambda line: st.console.print(plain(line)))
    report = write_report(result, images, output)
    st.console.print(f"Report: {plain(str(report))}")
