"""``synthmark eval``: measure detector accuracy and watermark robustness."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Measure detector accuracy and watermark robustness, with readable reports.",
    no_args_is_help=True,
)
