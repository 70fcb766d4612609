"""``synthmark probe``: decode images with the safe loader and report what was found."""

from __future__ import annotations

from typing import Annotated

import typer

from synthmark.cli._common import (
    PathsArgument,
    data_console,
    emit_json,
    fail_unreadable,
    input_args,
    plain,
)


def probe(
    ctx: typer.Context,
    paths: PathsArgument,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON object per input on stdout.")
    ] = False,
) -> None:
    """Decode each image safely and report its format, size, mode and conversions.

    Exits 1 if any input could not be read (Error: ... on stderr names it); every other
    input is still reported.

    Example: synthmark probe photos/ 'uploads/*.jpg' --json
    """
    from rich.table import Table

    from synthmark.errors import UnsupportedImage
    from synthmark.imaging import error_detail, expand_inputs, load_image

    table = Table("path", "format", "size", "mode", "notes")
    failed: list[tuple[str, str]] = []
    total = 0
    for item in expand_inputs(input_args(paths)):
        total += 1
        record: dict[str, object] = {"path": str(item.path)}
        if item.error is None:
            try:
                loaded = load_image(item.path)
            except UnsupportedImage as exc:
                record["error"] = error_detail(exc, item.path)
            else:
                record.update(
                    format=loaded.format,
                    width=loaded.size[0],
                    height=loaded.size[1],
                    mode=loaded.original_mode,
                    frames=loaded.frames,
                    notes=loaded.notes,
                )
        else:
            record["error"] = item.error
        if "error" in record:
            failed.append((str(item.path), str(record["error"])))
        if json_:
            emit_json(record)
        elif "error" in record:
            table.add_row(plain(str(item.path)), "", "", "", f"[red]{plain(str(record['error']))}")
        else:
            table.add_row(
                plain(str(item.path)),
                str(record["format"]),
                f"{record['width']}x{record['height']}",
                str(record["mode"]),
                plain("; ".join(record["notes"])),  # type: ignore[arg-type]
            )
    if not json_:
        data_console().print(table)
    fail_unreadable(failed, total)
