"""``synthmark registry``: the record of every generated image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from synthmark.choices import StatusFilter
from synthmark.cli._common import (
    PathsArgument,
    data_console,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
    state,
)
from synthmark.settings import REGISTRY_ENV

if TYPE_CHECKING:
    from synthmark.registry import Registry

app = typer.Typer(help="List, show, look up and export generation records.", no_args_is_help=True)

ENV_REGISTRY = REGISTRY_ENV
_URL_KEY = "synthmark.registry_url"


@app.callback()
def registry_options(
    ctx: typer.Context,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            envvar=ENV_REGISTRY,
            show_envvar=True,
            help="Registry URL or SQLite file (default: registry.sqlite3 in the home folder).",
        ),
    ] = None,
) -> None:
    """List, show, look up and export generation records."""
    ctx.meta[_URL_KEY] = registry


def _open(ctx: typer.Context) -> Registry:
    from synthmark.registry import open_registry

    url = ctx.meta.get(_URL_KEY)
    return open_registry(url if url else state(ctx).settings)


def _row(record: Any, full: bool) -> list[str]:
    """One table row; ``full`` keeps the whole sha256 (when stdout is not a terminal)."""
    created = record.created_at or record.reserved_at
    return [
        str(record.serial),
        record.status.value,
        f"{created:%Y-%m-%d %H:%M:%S}",
        plain(record.model_id or ""),
        record.image_format or "",
        f"{record.width}x{record.height}" if record.width else "",
        (record.sha256 or "") if full else (record.sha256 or "")[:12],
        plain(record.manifest_id or ""),
    ]


_HEADERS = ("serial", "status", "time (UTC)", "model", "format", "size", "sha256", "manifest")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        StatusFilter, typer.Option("--status", help="Only records with this status.")
    ] = StatusFilter.all,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="At most this many, newest first (0: all).")
    ] = 50,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
) -> None:
    """List generation records, newest first.

    Example: synthmark registry list --status committed -n 10 --json
    """
    from rich.table import Table

    with _open(ctx) as reg:
        records = reg.list_records(status.value, limit=limit or None)
        total = reg.count(status.value)
    if json_:
        for record in records:
            emit_json(record)
        return
    import sys

    table = Table(*_HEADERS)
    for record in records:
        table.add_row(*_row(record, full=not sys.stdout.isatty()))
    data_console().print(table)
    state(ctx).console.print(f"{len(records)} of {total} record(s)")


@app.command("show")
def show(
    ctx: typer.Context,
    serial: Annotated[int, typer.Argument(help="The serial (what the watermark carries).")],
    json_: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Show one record. Exits 1 if there is no record with that serial.

    Example: synthmark registry show 42 --json
    """
    from synthmark.errors import RegistryError
    from synthmark.jsonutil import to_jsonable

    with _open(ctx) as reg:
        record = reg.get(serial)
    if record is None:
        raise RegistryError(f"no record with serial {serial}")
    if json_:
        emit_json(record)
        return
    for name, value in to_jsonable(record).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        typer.echo(f"{name + ':':<18}{'-' if value is None else value}")


@app.command("lookup")
def lookup(
    ctx: typer.Context,
    paths: PathsArgument,
    radius: Annotated[
        int,
        typer.Option(
            "--radius", min=0, max=16, help="Largest pHash distance (bits of 64) that matches."
        ),
    ] = 8,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most matches per file.")] = 5,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
) -> None:
    """Find the records of images: exact bytes (SHA-256) or look-alikes (perceptual hash).

    Survives metadata stripping, re-encoding and resizing. Exit status 0 whether or not a
    record is found (see "found" in the JSON); 1 if an input could not be read.

    Example: synthmark registry lookup photo.jpg --json
    """
    from synthmark.errors import UnsupportedImage
    from synthmark.imaging import error_detail, expand_inputs, load_image

    cli = state(ctx)
    failed: list[tuple[str, str]] = []
    total = 0
    with _open(ctx) as reg:
        for item in expand_inputs(input_args(paths)):
            total += 1
            out: dict[str, Any] = {"path": str(item.path)}
            if item.error is None:
                try:
                    data = load_image(item.path).data  # bounded read, typed errors
                    result = reg.lookup_bytes(data, radius, limit)
                except UnsupportedImage as exc:
                    out["error"] = error_detail(exc, item.path)
                else:
                    out.update(
                        found=result.found,
                        sha256=result.sha256,
                        phash=result.phash,
                        radius=result.radius,
                        exact=result.exact,
                        similar=result.similar,
                    )
            else:
                out["error"] = item.error
            if "error" in out:
                failed.append((out["path"], out["error"]))
            if json_:
                emit_json(out)
            elif "error" in out:
                cli.console.print(f"{plain(out['path'])}: [red]{plain(out['error'])}")
            elif not out["found"]:
                typer.echo(f"{out['path']}: no record")
            else:
                for record in result.exact:
                    typer.echo(f"{out['path']}: serial {record.serial} (exact bytes)")
                exact = {record.serial for record in result.exact}
                for match in result.similar:
                    if match.record.serial in exact:  # already listed, and at distance 0
                        continue
                    typer.echo(
                        f"{out['path']}: serial {match.record.serial} "
                        f"(pHash distance {match.distance})"
                    )
    fail_unreadable(failed, total)


@app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
    status: Annotated[
        StatusFilter, typer.Option("--status", help="Only records with this status.")
    ] = StatusFilter.all,
) -> None:
    """Export records as JSON Lines, oldest serial first.

    Example: synthmark registry export -o records.jsonl
    """
    import sys

    from synthmark.imaging import atomic_writer
    from synthmark.jsonutil import dumps

    count = 0
    with _open(ctx) as reg:
        if output is None:
            for record in reg.iter_records(status.value):
                sys.stdout.write(dumps(record) + "\n")
                count += 1
            sys.stdout.flush()
        else:
            with atomic_writer(output, mode=0o600) as fh:
                for record in reg.iter_records(status.value):
                    fh.write((dumps(record) + "\n").encode("utf-8"))
                    count += 1
    state(ctx).console.print(f"exported {count} record(s)")
