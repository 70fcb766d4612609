"""The root ``synthmark`` command: global options, error handling and the sub-apps.

Every sub-app module imports only Typer and the standard library at import time, so that
``synthmark --help`` answers fast; heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from synthmark import __version__
from synthmark.cli import demo as demo_cli
from synthmark.cli import detect as detect_cli
from synthmark.cli import eval as eval_cli
from synthmark.cli import generate as generate_cli
from synthmark.cli import inspect as inspect_cli
from synthmark.cli import keys as keys_cli
from synthmark.cli import label as label_cli
from synthmark.cli import probe as probe_cli
from synthmark.cli import registry as registry_cli
from synthmark.cli import screen as screen_cli
from synthmark.cli import serve as serve_cli
from synthmark.cli import watermark as watermark_cli
from synthmark.cli._common import CliState
from synthmark.cli._help import tidy
from synthmark.errors import SynthmarkError, UsageError
from synthmark.runtime import tune_allocator
from synthmark.settings import HOME_ENV, Settings

#: Exit status when the reader of stdout went away (``synthmark ... | head``), as a shell
#: reports a process killed by SIGPIPE.
EXIT_BROKEN_PIPE = 141


class SynthmarkGroup(TyperGroup):
    """Turns synthmark's own errors into ``Error: ...`` on stderr and exit status 1 (2 for a
    :class:`~synthmark.errors.UsageError`, like Click's own usage errors)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        tidy(self)  # every sub-command exists by now

    def invoke(self, ctx: Any) -> Any:
        code = 1
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Nobody reads stdout any more: say nothing, and keep Python from complaining
            # about the unflushed buffer at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except UsageError as exc:
            message, code = str(exc), 2
        except SynthmarkError as exc:
            message = str(exc)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            message = f"{exc.strerror or exc}{where}"
        sys.stderr.write(f"Error: {message}\n")
        raise typer.Exit(code)


app = typer.Typer(
    name="synthmark",
    cls=SynthmarkGroup,
    help=(
        "Mark, label, register and screen AI-generated images.\n\n"
        "Exit status: 0 success, 1 runtime error, 2 usage error (both with Error: ... on "
        "stderr)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"synthmark {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar=HOME_ENV,
            show_envvar=True,
            help="Folder for keys, registry and models (default: the platform's app folder).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Mark, label, register and screen AI-generated images."""
    # Library warnings (a missing watermark key, say) go through logging; set on every
    # invocation, so that one --quiet run does not silence the next in the same process.
    logging.getLogger("synthmark").setLevel(logging.ERROR if quiet else logging.NOTSET)
    ctx.obj = CliState(settings=Settings.from_env(home), quiet=quiet)


app.add_typer(watermark_cli.app, name="watermark")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(detect_cli.app, name="detect")
app.add_typer(eval_cli.app, name="eval")
app.command("probe")(probe_cli.probe)
app.command("generate")(generate_cli.generate)
app.command("label")(label_cli.label)
app.command("inspect")(inspect_cli.inspect)
app.command("screen")(screen_cli.screen)
app.command("serve")(serve_cli.serve)
app.command("demo")(demo_cli.demo)


def main() -> None:
    """Console-script entry point."""
    tune_allocator()  # freed image arrays are reused, not faulted in again (runtime.py)
    app()


__all__ = ["app", "main"]
