"""``synthmark generate``: Stable Diffusion text-to-image, every output marked and labelled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthmark.choices import Device, DType, OutputFormat
from synthmark.cli._common import (
    ProviderOption,
    emit_json,
    plain,
    progress_bar,
    quiet_libraries,
    state,
)
from synthmark.settings import MODEL_ENV

if TYPE_CHECKING:
    from rich.console import Console

    from synthmark.generate import GenerationRequest, Generator

PromptArgument = Annotated[str | None, typer.Argument(help="The prompt (or use --prompts FILE).")]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        envvar=MODEL_ENV,
        show_envvar=True,
        help="'tiny' (built in, noise-like pictures for tests and demos), a local diffusers "
        "folder, a .safetensors/.ckpt checkpoint, or a hub id in the local cache.",
    ),
]
CountOption = Annotated[int, typer.Option("-n", "--num-images", min=1, help="Images per prompt.")]
OutputOption = Annotated[Path, typer.Option("-o", "--output", help="Output folder.")]
SeedOption = Annotated[int, typer.Option(min=0, help="Seed of the first image; +1 per image.")]
StepsOption = Annotated[
    int | None, typer.Option(min=1, help="Denoising steps (default: 25, tiny 10).")
]
WidthOption = Annotated[
    int | None, typer.Option(min=8, help="Width in px (default: 512, tiny 256).")
]
HeightOption = Annotated[
    int | None, typer.Option(min=8, help="Height in px (default: 512, tiny 256).")
]
GuidanceOption = Annotated[float, typer.Option(min=0.0, help="Classifier-free guidance scale.")]
NegativeOption = Annotated[str | None, typer.Option("--negative", help="Negative prompt.")]
PromptsOption = Annotated[
    Path | None,
    typer.Option(
        "--prompts",
        help="A .txt, .csv or .jsonl file of prompts (with optional "
        "per-row seed and negative_prompt).",
    ),
]
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        help="Scheduler: ddim, pndm, euler, euler_a, dpmpp_2m, lms, "
        "heun, unipc (default: the model's own)."
    ),
]
DeviceOption = Annotated[Device, typer.Option(help="Where to run.")]
DTypeOption = Annotated[DType, typer.Option(help="Precision (auto: fp16 on CUDA).")]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Local diffusers folder with the configs a single-file "
        "checkpoint needs when offline.",
    ),
]
PublicMarkOption = Annotated[
    bool,
    typer.Option(
        "--public-mark",
        help="Also add Stable Diffusion's public dwtDct mark (SDXL bits); PNG only.",
    ),
]
IncludePromptOption = Annotated[
    bool,
    typer.Option(
        "--include-prompt",
        help="Put the prompt text in the file's labels (parameters and C2PA "
        "manifest) and in the registry; otherwise only its sha256 is kept.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per image on stdout.")]

NO_PROVIDER_WARNING = (
    "[yellow]No provider named (--provider or SYNTHMARK_PROVIDER): the labels will not say "
    "which organisation generated these images, as California SB 942's disclosure asks.[/]"
)


def generate(
    ctx: typer.Context,
    prompt: PromptArgument = None,
    model: ModelOption = "tiny",
    n: CountOption = 1,
    output: OutputOption = Path("out"),
    seed: SeedOption = 0,
    steps: StepsOption = None,
    width: WidthOption = None,
    height: HeightOption = None,
    guidance: GuidanceOption = 7.5,
    negative: NegativeOption = None,
    prompts: PromptsOption = None,
    fmt: FormatOption = OutputFormat.png,
    scheduler: SchedulerOption = None,
    device: DeviceOption = Device.auto,
    dtype: DTypeOption = DType.auto,
    model_config: ConfigOption = None,
    public_mark: PublicMarkOption = False,
    include_prompt: IncludePromptOption = False,
    provider: ProviderOption = None,
    json_: JsonOption = False,
) -> None:
    """Generate images; each is watermarked (serial), labelled (XMP, parameters, signed C2PA),
    registered, and written atomically.

    The built-in 'tiny' model is a randomly initialised Stable Diffusion pipeline: its
    pictures are noise-like textures, not images of anything. Use it for tests and demos.

    Needs a watermark key and signing credentials (synthmark keys init makes both); if there
    are none, they are made on first use under the home folder, and you are told where.

    Examples:
      synthmark generate "a lighthouse at dusk" -n 2 -o out/
      synthmark generate --prompts prompts.csv --model ./sd15 --format webp
    """
    from synthmark.errors import SynthmarkError
    from synthmark.generate.assemble import build_generator
    from synthmark.generate.generator import check_output_folder, check_sizes
    from synthmark.generate.plan import RequestPlan, check_public_mark

    st = state(ctx)
    plan = RequestPlan(prompt, prompts, n, seed, negative, steps, width, height, guidance)
    check_public_mark(public_mark, fmt)
    # Everything that can be checked is checked before the model loads (10-20 s).
    requests = plan.requests(model)
    check_output_folder(output)
    console = st.console
    if not provider:
        console.print(NO_PROVIDER_WARNING)

    def loading(markers: Any) -> None:
        check_sizes(requests, markers)
        console.print(f"Loading model [bold]{plain(model)}[/] ...")

    with quiet_libraries(st.quiet):
        generator = build_generator(
            st.settings, model=model, device=device.value, dtype=dtype.value,
            model_config=model_config, output_format=fmt, scheduler=scheduler,
            public_mark=public_mark, include_prompt=include_prompt, provider=provider,
            notify=lambda message: console.print(plain(message)), before_model=loading,
        )
        failures = _run(generator, requests, output, console, json_)
    if not json_:
        written = len(requests) - len(failures)
        console.print(f"{written} image(s) written to {plain(os.fspath(output))}")
    if failures:
        raise SynthmarkError(
            f"{len(failures)} of {len(requests)} image(s) were not written: "
            + "; ".join(failures[:3])
        )


def _run(
    generator: Generator,
    requests: list[GenerationRequest],
    output: Path,
    console: Console,
    json_: bool,
) -> list[str]:
    """Generate with a progress bar on stderr, each result on stdout (``--json``) or stderr
    as it lands; returns what went wrong with the images that were not written."""
    failures: list[str] = []
    with progress_bar(console, "{task.description}") as bar:
        images = bar.add_task("images", total=len(requests))
        step_task = bar.add_task("steps", total=requests[0].steps)

        def progress(kind: str, done: int, total: int) -> None:
            if kind == "image":
                bar.update(images, completed=done)
                bar.reset(step_task, total=total)
            else:
                bar.update(step_task, completed=done, total=total)

        def on_error(request: GenerationRequest, exc: Exception) -> None:
            failures.append(f"seed {request.seed}: {exc}")
            console.print(f"[red]Not written[/] (seed {request.seed}): {plain(str(exc))}")

        for result in generator.generate(requests, output, progress, on_error=on_error):
            if json_:
                emit_json(result)
            else:
                console.print(
                    f"{plain(str(result.path))}  serial {result.serial}  seed {result.seed}"
                )
    return failures
