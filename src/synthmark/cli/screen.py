"""``synthmark screen``: one verdict per image from every layer of evidence."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.cli._common import (
    PathsArgument,
    RegistryOption,
    emit_json,
    input_args,
    plain,
    progress_bar,
    state,
)

#: Exit status when --fail-on is triggered.
EXIT_FLAGGED = 3


class FailOn(str, Enum):
    synthetic = "synthetic"
    likely_synthetic = "likely_synthetic"


class Backend(str, Enum):
    local = "local"
    ray = "ray"


_RANK = {"no_evidence": 0, "likely_synthetic": 1, "synthetic": 2}
_STYLE = {"synthetic": "bold red", "likely_synthetic": "yellow", "no_evidence": "green"}


def screen(
    ctx: typer.Context,
    paths: PathsArgument,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Also append JSON Lines records here (never overwritten; an existing file "
            "must be JSON Lines).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Skip files already recorded in --output (restart a batch).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Parallel worker processes.")] = 1,
    fail_on: Annotated[
        FailOn | None,
        typer.Option(help=f"Exit {EXIT_FLAGGED} if any image is at or above this verdict."),
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="Detector model folder (default: built in).")
    ] = None,
    detector: Annotated[
        bool, typer.Option("--detector/--no-detector", help="Run the learned detector.")
    ] = True,
    registry: RegistryOption = None,
    backend: Annotated[
        Backend, typer.Option(help="local (process pool) or ray (the 'ray' extra).")
    ] = Backend.local,
) -> None:
    """Screen images for AI generation: C2PA, IPTC XMP, generator metadata, watermarks
    (ours and Stable Diffusion's), the registry and the detector give one verdict each:
    synthetic, likely_synthetic or no_evidence, with a score and reasons.

    no_evidence never proves an image is a real photo. A file that cannot be read gets an
    error record and the batch goes on.

    Exit status: 0 done (even with per-file errors), 1 runtime error, 2 usage error,
    3 when --fail-on is given and an image reached that verdict (with --resume, the
    verdicts already recorded in --output for the given files count too).

    Examples:
      synthmark screen uploads/ --json -o results.jsonl --workers 2
      synthmark screen uploads/ -o results.jsonl --resume --fail-on synthetic
      find . -name '*.jpg' | synthmark screen - --csv
    """
    from rich.table import Table

    from synthmark.errors import UsageError
    from synthmark.imaging import expand_inputs
    from synthmark.screen.assemble import ScreenerSpec

    st = state(ctx)
    if json_ and csv_:
        raise UsageError("choose one of --json and --csv")
    if resume and output is None:
        raise UsageError("--resume needs --output FILE (the JSON Lines file to resume)")
    if output is not None:
        from synthmark.screen.batch import check_output

        check_output(output)  # before anything is screened
    spec = ScreenerSpec.from_settings(
        st.settings,
        detector_path=str(model) if model else None,
        use_detector=detector,
        registry_url=registry,
    )
    items = list(expand_inputs(input_args(paths)))
    factory: Callable[[], Any] = spec
    if detector:
        screener = spec()
        _ = screener.detector  # a missing or broken --model fails here, not once per file
        if workers <= 1 and backend is Backend.local:

            def factory() -> Any:  # one process: reuse the detector just loaded
                return screener

    if backend is Backend.ray:
        from synthmark.screen.ray_backend import run_ray

        if output is None:
            raise UsageError("--backend ray needs --output FILE")
        summary = run_ray(items, spec, output=output, console=st.console)
        st.console.print(
            f"{summary.screened} screened, {summary.skipped} skipped, "
            f"{summary.errors} errors -> {plain(str(output))}"
        )
        _exit(summary.all_verdicts(), fail_on)
        return
    from synthmark.screen.batch import run_batch
    from synthmark.screen.export import CSV_HEADER, csv_row, utf8

    table = Table("path", "verdict", "score", "reasons", show_lines=False)
    writer = csv.writer(sys.stdout) if csv_ else None
    if writer is not None:
        writer.writerow(CSV_HEADER)
    with progress_bar(st.console, "screening") as bar:
        task = bar.add_task("screen", total=len(items))

        def on_record(record: dict[str, Any]) -> None:
            bar.advance(task)
            if json_:
                emit_json(record)
            elif writer is not None:
                writer.writerow(csv_row(record))
                sys.stdout.flush()
            elif "error" in record:
                table.add_row(
                    plain(utf8(record["path"])), "[red]error", "", plain(utf8(record["error"]))
                )
            else:
                verdict = record["verdict"]
                table.add_row(
                    plain(utf8(record["path"])),
                    f"[{_STYLE[verdict]}]{verdict}",
                    f"{record['score']:.2f}",
                    plain(" ".join(record["reasons"][:2])),
                )

        summary = run_batch(
            items, factory, workers=workers, output=output, resume=resume, on_record=on_record
        )
    if not (json_ or csv_):
        from rich.console import Console

        Console().print(table)
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summary.verdicts.items()))
    st.console.print(
        f"{summary.screened} screened ({counts or 'none'}), {summary.errors} "
        f"unreadable, {summary.skipped} skipped"
    )
    _exit(summary.all_verdicts(), fail_on)  # skipped (--resume) records count too


def _exit(verdicts: dict[str, int], fail_on: FailOn | None) -> None:
    if fail_on is None:
        return
    bar = _RANK[fail_on.value]
    if any(_RANK.get(v, -1) >= bar and n for v, n in verdicts.items()):
        raise typer.Exit(EXIT_FLAGGED)
