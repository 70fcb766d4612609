"""``synthmark keys``: C2PA signing credentials."""

from __future__ import annotations

import typer

app = typer.Typer(help="Create and show C2PA signing credentials.", no_args_is_help=True)
