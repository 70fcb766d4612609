"""``synthmark screen``: one verdict per image from every layer of evidence."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.choices import FailOn, VerdictLabel
from synthmark.choices import ScreenBackend as Backend
from synthmark.cli._common import (
    PathsArgument,
    RegistryOption,
    data_console,
    emit_json,
    input_args,
    plain,
    progress_bar,
    state,
)

#: Exit status when --fail-on is triggered.
EXIT_FLAGGED = 3
#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130


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
    workers: Annotated[
        str,
        typer.Option(
            help="Worker processes: a number, or auto (one per CPU core; fewer for a small "
            "batch, where starting them would cost more than it saves).",
        ),
    ] = "auto",
    fail_on: Annotated[
        FailOn | None,
        typer.Option(help=f"Exit {EXIT_FLAGGED} if any image is at or above this verdict."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", exists=True, help="Detector model folder (default: built in)."),
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
    from synthmark.screen.batch import check_output, resolve_workers, run_batch

    st = state(ctx)
    if json_ and csv_:
        raise UsageError("choose one of --json and --csv")
    if resume and output is None:
        raise UsageError("--resume needs --output FILE (the JSON Lines file to resume)")
    if output is not None:
        check_output(output)  # before anything is screened
    items = list(expand_inputs(input_args(paths)))
    _check_inputs(items, paths)
    n_workers = resolve_workers(workers, len(items))
    spec = ScreenerSpec.from_settings(
        st.settings,
        detector_path=str(model) if model else None,
        use_detector=detector,
        registry_url=registry,
    )
    factory: Callable[[], Any] = spec
    if detector:
        screener = spec()
        _ = screener.detector  # a missing or broken --model fails here, not once per file
        if n_workers <= 1 and backend is Backend.local:

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
    printer = _Printer("json" if json_ else "csv" if csv_ else "table")
    with progress_bar(st.console, "screening") as bar:
        task = bar.add_task("screen", total=len(items))

        def on_record(record: dict[str, Any]) -> None:
            bar.advance(task)
            printer(record)

        try:
            summary = run_batch(
                items,
                factory,
                workers=n_workers,
                output=output,
                resume=resume,
                on_record=on_record,
            )
        except KeyboardInterrupt:
            done = int(bar.tasks[0].completed)
            st.console.print(_interrupted_hint(done, len(items), output), soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    printer.finish()
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summary.verdicts.items()))
    st.console.print(
        f"{summary.screened} screened ({counts or 'none'}), {summary.errors} "
        f"unreadable, {summary.skipped} skipped"
    )
    _exit(summary.all_verdicts(), fail_on)  # skipped (--resume) records count too


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

    def __call__(self, record: dict[str, Any]) -> None:
        from synthmark.screen.export import csv_row, utf8

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


def _check_inputs(items: list[Any], paths: list[str]) -> None:
    """A named file that does not exist, a pattern that matches nothing, or no image at all
    is a usage error, before anything is screened: a CI gate must not pass on a typo."""
    from synthmark.errors import UsageError

    missing = [f"{item.path}: {item.error}" for item in items if item.error is not None]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise UsageError("; ".join(missing[:3]) + more)
    if not items:
        raise UsageError(f"no image files in {', '.join(paths) or 'the input'}")


def _interrupted_hint(done: int, total: int, output: Path | None) -> str:
    """What to say after Ctrl-C: how far it got, and how to go on from there."""
    where = (
        f"their records are in {output}; rerun the same command with --resume to screen "
        "only the rest"
        if output is not None
        else "give -o FILE to keep the records, and --resume to go on from where a run stopped"
    )
    return f"Interrupted after {done} of {total} file(s): {where}."


def _exit(verdicts: dict[str, int], fail_on: FailOn | None) -> None:
    if fail_on is None:
        return
    known = {label.value: label.rank for label in VerdictLabel}
    if any(n and known.get(v, -1) >= fail_on.verdict.rank for v, n in verdicts.items()):
        raise typer.Exit(EXIT_FLAGGED)
