"""``synthmark demo``: the main job on built-in defaults (what ``make run`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthmark.cli._common import data_console, emit_json, plain, state


def demo(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder for the demo files.")
    ] = Path("demo"),
    count: Annotated[int, typer.Option("-n", min=1, max=20, help="Images to generate.")] = 3,
    detector: Annotated[
        bool, typer.Option("--detector/--no-detector", help="Run the learned detector.")
    ] = True,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON record per file on stdout.")
    ] = False,
) -> None:
    """Generate a few images with the tiny model, strip and re-compress one, add the bundled
    real photos, and screen them all.

    The tiny model's pictures are noise-like textures, not images of anything: the demo shows
    the marking and screening pipeline, not image quality.

    Example: synthmark --home demo/home demo -o demo
    """
    from rich.table import Table

    from synthmark.demo import run_demo

    st = state(ctx)
    result = run_demo(
        st.settings,
        output,
        count=count,
        use_detector=detector,
        notify=lambda message: st.console.print(message),
    )
    if json_:
        for record in result.records:
            emit_json(record)
        return
    table = Table("file", "verdict", "score", "detector", "why", title="synthmark screening")
    style = {"synthetic": "bold red", "likely_synthetic": "yellow", "no_evidence": "green"}
    for record in result.records:
        name = (
            str(Path(record["path"]).relative_to(output))
            if record["path"].startswith(str(output))
            else record["path"]
        )
        if "error" in record:
            table.add_row(plain(name), "[red]error", "", "", plain(record["error"]))
            continue
        verdict = record["verdict"]
        det_layer = (record.get("layers") or {}).get("detector")
        table.add_row(
            plain(name),
            f"[{style[verdict]}]{verdict}",
            f"{record['score']:.3f}",
            f"{det_layer['probability']:.2f}" if det_layer else "not run",
            plain(record["reasons"][0]),
        )
    data_console().print(table)
