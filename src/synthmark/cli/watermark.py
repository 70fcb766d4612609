"""``synthmark watermark``: embed and read invisible watermarks, manage the watermark key."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Embed and read invisible watermarks (synthmark's own scheme and Stable Diffusion's).",
    no_args_is_help=True,
)
