"""``synthmark generate``: Stable Diffusion text-to-image, every output marked and labelled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.choices import Device, DType, OutputFormat
from synthmark.cli._common import emit_json, plain, progress_bar, quiet_libraries, state


def generate(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt (or use --prompts FILE).")
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            envvar="SYNTHMARK_MODEL",
            show_envvar=True,
            help="'tiny' (built in, noise-like pictures for tests and demos), a local diffusers "
            "folder, a .safetensors/.ckpt checkpoint, or a hub id in the local cache.",
        ),
    ] = "tiny",
    n: Annotated[int, typer.Option("-n", "--num-images", min=1, help="Images per prompt.")] = 1,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder.")] = Path("out"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first image; +1 per image.")] = 0,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Denoising steps (default: 25, tiny 10).")
    ] = None,
    width: Annotated[
        int | None, typer.Option(min=8, help="Width in px (default: 512, tiny 256).")
    ] = None,
    height: Annotated[
        int | None, typer.Option(min=8, help="Height in px (default: 512, tiny 256).")
    ] = None,
    guidance: Annotated[float, typer.Option(min=0.0, help="Classifier-free guidance scale.")] = 7.5,
    negative: Annotated[str | None, typer.Option("--negative", help="Negative prompt.")] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts",
            help="A .txt, .csv or .jsonl file of prompts (with optional "
            "per-row seed and negative_prompt).",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.png,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Scheduler: ddim, pndm, euler, euler_a, dpmpp_2m, lms, "
            "heun, unipc (default: the model's own)."
        ),
    ] = None,
    device: Annotated[Device, typer.Option(help="Where to run.")] = Device.auto,
    dtype: Annotated[
        DType, typer.Option(help="Precision (auto: fp16 on CUDA).")
    ] = DType.auto,
    model_config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Local diffusers folder with the configs a single-file "
            "checkpoint needs when offline.",
        ),
    ] = None,
    public_mark: Annotated[
        bool,
        typer.Option(
            "--public-mark",
            help="Also add Stable Diffusion's public dwtDct mark (SDXL bits); PNG only.",
        ),
    ] = False,
    include_prompt: Annotated[
        bool,
        typer.Option(
            "--include-prompt",
            help="Put the prompt text in the file's labels (parameters and C2PA "
            "manifest) and in the registry; otherwise only its sha256 is kept.",
        ),
    ] = False,
    provider: Annotated[
        str | None,
        typer.Option(
            envvar="SYNTHMARK_PROVIDER",
            show_envvar=True,
            help="Your organisation, for the SB 942 latent disclosure.",
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object per image on stdout.")
    ] = False,
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

    from synthmark.errors import SynthmarkError, UsageError
    from synthmark.generate import GenerationRequest, OutputFormat
    from synthmark.generate.assemble import build_generator
    from synthmark.generate.generator import check_output_folder, check_sizes

    st = state(ctx)
    if (prompt is None) == (prompts is None):
        raise UsageError("give either a PROMPT or --prompts FILE (exactly one)")
    if public_mark and fmt is not OutputFormat.png:
        raise UsageError(
            "--public-mark needs --format png: Stable Diffusion's dwtDct mark does not "
            f"survive {fmt.value.upper()} encoding, so it would be claimed but not carried"
        )
    defaults: dict[str, Any] = {
        "steps": steps or (10 if model == "tiny" else 25),
        "width": width or (256 if model == "tiny" else 512),
        "height": height or (256 if model == "tiny" else 512),
        "guidance": guidance,
    }
    requests = _requests(prompt, prompts, n, seed, negative, defaults)
    console = st.console
    # Everything that can be checked is checked before the model loads (10-20 s).
    for request in requests:
        request.check()
    check_output_folder(output)
    if not provider:
        console.print(
            "[yellow]No provider named (--provider or SYNTHMARK_PROVIDER): the labels will "
            "not say which organisation generated these images, as California SB 942's "
            "disclosure asks.[/]"
        )

    def loading(markers: Any) -> None:
        check_sizes(requests, markers)
        console.print(f"Loading model [bold]{plain(model)}[/] ...")

    with quiet_libraries(st.quiet):
        generator = build_generator(
            st.settings,
            model=model,
            device=device.value,
            dtype=dtype.value,
            model_config=model_config,
            output_format=fmt,
            scheduler=scheduler,
            public_mark=public_mark,
            include_prompt=include_prompt,
            provider=provider,
            notify=lambda message: console.print(plain(message)),
            before_model=loading,
        )
        with progress_bar(console, "{task.description}") as bar:
            images = bar.add_task("images", total=len(requests))
            step_task = bar.add_task("steps", total=requests[0].steps)

            def progress(kind: str, done: int, total: int) -> None:
                if kind == "image":
                    bar.update(images, completed=done)
                    bar.reset(step_task, total=total)
                else:
                    bar.update(step_task, completed=done, total=total)

            failures: list[str] = []

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
    written = len(requests) - len(failures)
    if not json_:
        console.print(f"{written} image(s) written to {plain(os.fspath(output))}")
    if failures:
        raise SynthmarkError(
            f"{len(failures)} of {len(requests)} image(s) were not written: "
            + "; ".join(failures[:3])
        )


def _requests(
    prompt: str | None,
    prompts: Path | None,
    n: int,
    seed: int,
    negative: str | None,
    defaults: dict[str, Any],
) -> list[Any]:
    """The requests of one run: ``n`` per prompt, seeds counting up from ``seed`` (or from a
    row's own seed in a prompts file)."""
    from synthmark.generate import GenerationRequest, read_prompts

    if prompts is None:
        return [GenerationRequest(prompt or "", negative, seed + i, **defaults) for i in range(n)]
    requests = []
    for index, row in enumerate(read_prompts(prompts)):
        base = row.seed if row.seed is not None else seed + index * n
        negative_prompt = row.negative_prompt or negative
        requests += [
            GenerationRequest(row.prompt, negative_prompt, base + i, **defaults) for i in range(n)
        ]
    return requests
