"""``synthmark label``: label images any generator made, as ``generate`` labels its own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthmark.choices import OutputFormat
from synthmark.cli._common import (
    PathsArgument,
    ProviderOption,
    RegistryOption,
    emit_json,
    input_args,
    plain,
    progress_bar,
    state,
)

if TYPE_CHECKING:
    from rich.console import Console

    from synthmark.labelling import LabelResult
    from synthmark.labelling.source import PlannedFile


def _report(console: Console, result: LabelResult, json_: bool) -> None:
    if json_:
        emit_json(result)
        return
    parent = f", keeps {result.parent_manifest_id}" if result.parent_manifest_id else ""
    console.print(
        f"{plain(str(result.source))} -> {plain(str(result.path))}  serial {result.serial}  "
        f"{result.manifest_id}{parent}"
    )
    for note in result.notes:
        console.print(f"  [dim]note:[/] {plain(note)}")


OutputOption = Annotated[
    Path,
    typer.Option(
        "-o",
        "--output",
        help="Output folder (created). Each file keeps its name (and, from a folder, its "
        "sub-folder); an existing file is never written over, the input least of all.",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="The model that made the images (default: the one the file's own generator "
        "metadata names; this takes precedence).",
    ),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format (default: the input's; PNG for TIFF, GIF, AVIF and BMP inputs).",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Label files that synthmark labelled already.")
]
DropManifestOption = Annotated[
    bool,
    typer.Option(
        "--drop-manifest",
        help="Label files whose C2PA manifest cannot be kept (invalid, remote) without it; a "
        "valid manifest is then dropped too.",
    ),
]
StripPromptOption = Annotated[
    bool,
    typer.Option(
        "--strip-prompt",
        help="Leave every prompt out: of the labels, of the metadata kept and of the "
        "registry (default: a prompt the file carried is kept).",
    ),
]
QualityOption = Annotated[int, typer.Option(min=1, max=100, help="JPEG and WebP quality.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")]


def label(
    ctx: typer.Context,
    paths: PathsArgument,
    output: OutputOption,
    model: ModelOption = None,
    provider: ProviderOption = None,
    fmt: FormatOption = None,
    force: ForceOption = False,
    drop_manifest: DropManifestOption = False,
    strip_prompt: StripPromptOption = False,
    quality: QualityOption = 95,
    registry: RegistryOption = None,
    json_: JsonOption = False,
) -> None:
    """Label existing images as generate labels its own: a watermark carrying a registered
    serial, XMP DigitalSourceType, the A1111 parameters, a signed C2PA manifest (whose soft
    binding names the mark), a registry record and an atomic write.

    Model, seed, prompt and the rest come from the file's own metadata (AUTOMATIC1111, Forge,
    ComfyUI, InvokeAI, NovelAI, SwarmUI, Fooocus). A C2PA manifest the file carries is kept
    as the new manifest's parent ingredient; EXIF, ICC and XMP that do not conflict are kept,
    and what cannot be kept is said. A file that cannot be labelled gets an error and the
    batch goes on.

    Needs a watermark key (synthmark watermark keygen) and signing credentials (synthmark
    keys init, or SYNTHMARK_C2PA_CERT and SYNTHMARK_C2PA_KEY).

    Exit status: 0 every file labelled, 1 some were not (Error: ... on stderr), 2 usage error.

    Examples:
      synthmark label outputs/ -o labelled/ --provider "Acme Studio"
      synthmark label render.png -o labelled/ --model sdxl-base-1.0 --format jpeg
    """
    from synthmark.errors import UsageError
    from synthmark.labelling import open_labelling
    from synthmark.labelling.source import plan_outputs

    st = state(ctx)
    plan = plan_outputs(input_args(paths), output)
    if not plan:
        raise UsageError("no input files given")
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is a file; give a folder")
    options = {"model": model, "format": fmt.value if fmt else None, "force": force,
               "drop_manifest": drop_manifest, "include_prompt": False if strip_prompt else None}
    with open_labelling(st.settings, registry=registry, provider=provider,
                        quality=quality) as parts:
        failures = _label_all(st, parts, plan, options, json_)
    _finish(st.console, len(plan), failures, output, json_)


def _label_all(
    st: Any, parts: Any, plan: list[PlannedFile], options: dict[str, Any], json_: bool
) -> list[str]:
    """Label each planned file, with a progress bar; the failures, one line each."""
    from synthmark.errors import SynthmarkError
    from synthmark.labelling import label_file
    from synthmark.labels import local_trust_anchor

    anchors = local_trust_anchor(st.settings)
    console = st.console
    failures: list[str] = []
    with progress_bar(console, "labelling") as bar:
        task = bar.add_task("label", total=len(plan))
        for path, folder, error in ((p.path, p.folder, p.error) for p in plan):
            try:
                if error is not None:
                    raise SynthmarkError(error)
                folder.mkdir(parents=True, exist_ok=True)
                result = label_file(parts, path, folder, trust_anchors=anchors, **options)
            except (SynthmarkError, OSError) as exc:
                message = str(exc).removeprefix(f"{path}: ")
                failures.append(f"{path}: {message}")
                if json_:
                    emit_json({"path": str(path), "error": message})
                console.print(f"[red]Not labelled[/] {plain(str(path))}: {plain(message)}")
            else:
                _report(console, result, json_)
            bar.advance(task)
    return failures


def _finish(console: Any, total: int, failures: list[str], output: Path, json_: bool) -> None:
    from synthmark.errors import SynthmarkError

    if not json_:
        console.print(f"{total - len(failures)} of {total} file(s) labelled into "
                      f"{plain(str(output))}")
    if failures:
        raise SynthmarkError(
            f"{len(failures)} of {total} file(s) were not labelled: " + "; ".join(failures[:3])
        )
