"""``synthmark detect``: train and run the real-vs-generated detector."""

from __future__ import annotations

import typer

app = typer.Typer(help="Train and run the real-vs-generated image detector.", no_args_is_help=True)
