"""``synthmark registry``: the record of every generated image."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, show, look up and export generation records.", no_args_is_help=True)
