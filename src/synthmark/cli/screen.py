"""``synthmark screen``: one verdict per image from every layer of evidence."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthmark.choices import FailOn
from synthmark.choices import ScreenBackend as Backend
from synthmark.cli._common import (
    DetectorModelOption,
    DetectorOption,
    PathsArgument,
    RegistryOption,
    data_console,
    emit_json,
    input_args,
    plain,
    progress_bar,
    state,
)

if TYPE_CHECKING:
    from rich.console import Console

    from synthmark.screen.batch import BatchSummary
    from synthmark.screen.record import RecordLike

#: Exit status when --fail-on is triggered.
EXIT_FLAGGED = 3
#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130


_STYLE = {"synthetic": "bold red", "likely_synthetic": "yellow", "no_evidence": "green"}

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="CSV on stdout.")]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        help="Also append JSON Lines records here (never overwritten; an existing file "
        "must be JSON Lines).",
    ),
]
ResumeOption = Annotated[
    bool, typer.Option(help="Skip files already recorded in --output (restart a batch).")
]
WorkersOption = Annotated[
    str,
    typer.Option(
        help="Worker processes: a number, or auto (one per CPU core; fewer for a small "
        "batch, where starting them would cost more than it saves).",
    ),
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option(help=f"Exit {EXIT_FLAGGED} if any image is at or above this verdict."),
]
BackendOption = Annotated[
    Backend, typer.Option(help="local (process pool) or ray (the 'ray' extra).")
]


def screen(
    ctx: typer.Context,
    paths: PathsArgument,
    json_: JsonOption = False,
    csv_: CsvOption = False,
    output: OutputOption = None,
    resume: ResumeOption = False,
    workers: WorkersOption = "auto",
    fail_on: FailOnOption = None,
    model: DetectorModelOption = None,
    detector: DetectorOption = True,
    registry: RegistryOption = None,
    backend: BackendOption = Backend.local,
) -> None:
    """Screen images for AI generation: C2PA, IPTC XMP, generator metadata, watermarks
    (ours and Stable Diffusion's), the registry and the detector give one verdict each:
    synthetic, likely_synthetic or no_evidence, with a score and reasons.

    no_evidence never proves an image is a real photo. A file that cannot be read gets an
    error record and the batch goes on.

    Exit status: 0 done (even with per-file decoding errors), 1 runtime error, 2 usage
    error (a named file or folder that does not exist, a pattern that matches nothing, or no
    image at all), 3 when --fail-on is given and an image reached that verdict (with
    --resume, the verdicts already recorded in --output for the given files count too),
    130 when interrupted (Ctrl-C; rerun with --resume to screen only the rest).

    Examples:
      synthmark screen uploads/ --json -o results.jsonl
      synthmark screen uploads/ -o results.jsonl --resume --fail-on synthetic
      find . -name '*.jpg' | synthmark screen - --csv
    """
    from synthmark.errors import UsageError
    from synthmark.imaging import expand_inputs
    from synthmark.screen.assemble import ScreenerSpec
    from synthmark.screen.batch import check_inputs, check_output, resolve_workers

    st = state(ctx)
    if json_ and csv_:
        raise UsageError("choose one of --json and --csv")
    if resume and output is None:
        raise UsageError("--resume needs --output FILE (the JSON Lines file to resume)")
    if output is not None:
        check_output(output)  # before anything is screened
    items = list(expand_inputs(input_args(paths)))
    check_inputs(items, paths)
    n_workers = resolve_workers(workers, len(items))
    spec = ScreenerSpec.from_settings(
        st.settings,
        detector_path=str(model) if model else None,
        use_detector=detector,
        registry_url=registry,
    )
    factory = spec.preload(reuse=n_workers <= 1 and backend is Backend.local)
    if backend is Backend.ray:
        summary = _run_ray(items, spec, output, st.console)
    else:
        kind = "json" if json_ else "csv" if csv_ else "table"
        summary = _run_local(items, factory, n_workers, output, resume, kind, st.console)
    if fail_on is not None and summary.reached(fail_on.verdict):  # --resume's records count
        raise typer.Exit(EXIT_FLAGGED)


def _run_ray(items: list[Any], spec: Any, output: Path | None, console: Console) -> BatchSummary:
    from synthmark.errors import UsageError
    from synthmark.screen.ray_backend import run_ray

    if output is None:
        raise UsageError("--backend ray needs --output FILE")
    summary = run_ray(items, spec, output=output, console=console)
    console.print(
        f"{summary.screened} screened, {summary.skipped} skipped, "
        f"{summary.errors} errors -> {plain(str(output))}"
    )
    return summary


def _run_local(
    items: list[Any],
    factory: Callable[[], Any],
    workers: int,
    output: Path | None,
    resume: bool,
    kind: str,
    console: Console,
) -> BatchSummary:
    """Screen in a process pool, each record printed as it comes, a progress bar on stderr."""
    from synthmark.screen.batch import interrupted_hint, run_batch

    printer = _Printer(kind)
    with progress_bar(console, "screening") as bar:
        task = bar.add_task("screen", total=len(items))

        def on_record(record: RecordLike) -> None:
            bar.advance(task)
            printer(record)

        try:
            summary = run_batch(
                items, factory, workers=workers, output=output, resume=resume,
                on_record=on_record,
            )
        except KeyboardInterrupt:
            done = int(bar.tasks[0].completed)
            console.print(interrupted_hint(done, len(items), output), soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    printer.finish()
    console.print(summary.describe())
    return summary


class _Printer:
    """Writes each record to stdout as it comes: a JSON line, a CSV row, or a table row
    (the table is printed at the end)."""

    def __init__(self, kind: str) -> None:
        from rich.table import Table

        from synthmark.screen.export import CSV_HEADER

        self.kind = kind
        self.table = Table("path", "verdict", "score", "reasons", show_lines=False)
        self.writer = csv.writer(sys.stdout) if kind == "csv" else None
        if self.writer is not None:
            self.writer.writerow(CSV_HEADER)

    def __call__(self, given: RecordLike) -> None:
        from synthmark.screen.export import csv_row, utf8
        from synthmark.screen.record import record_json

        record = record_json(given)
        path = plain(utf8(record["path"]))
        if self.kind == "json":
            emit_json(record)
        elif self.writer is not None:
            self.writer.writerow(csv_row(record))
            sys.stdout.flush()
        elif "error" in record:
            self.table.add_row(path, "[red]error", "", plain(utf8(record["error"])))
        else:
            verdict = record["verdict"]
            reasons = plain(" ".join(record["reasons"][:2]))
            self.table.add_row(
                path, f"[{_STYLE[verdict]}]{verdict}", f"{record['score']:.2f}", reasons
            )

    def finish(self) -> None:
        if self.kind == "table" and self.table.row_count:  # all skipped (--resume): no table
            data_console().print(self.table)
