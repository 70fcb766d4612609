"""What every command shares: the state object, the stderr console and JSON output.

stdout is data, stderr is for people: progress and messages go to :func:`console`, machine
output goes through :func:`emit_json`.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

from synthmark.settings import PROVIDER_ENV, REGISTRY_ENV, Settings

#: The image inputs of every command that reads many: files, folders, globs or ``-``.
PathsArgument = Annotated[
    list[str],
    typer.Argument(
        help="Image files, folders or glob patterns; '-' reads file paths from stdin, one "
        "per line.",
        metavar="INPUT",
    ),
]

#: ``--registry URL`` (or ``SYNTHMARK_REGISTRY``), for every command that reads the registry.
RegistryOption = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar=REGISTRY_ENV,
        show_envvar=True,
        help="Registry URL (default: the home folder's SQLite registry).",
    ),
]


#: ``--model``: the detector to screen with, for every command that screens.
DetectorModelOption = Annotated[
    Path | None,
    typer.Option("--model", exists=True, help="Detector model folder (default: built in)."),
]

#: ``--detector/--no-detector``, for every command that screens.
DetectorOption = Annotated[
    bool, typer.Option("--detector/--no-detector", help="Run the learned detector.")
]

#: ``--provider`` (or ``SYNTHMARK_PROVIDER``), for every command that signs labels.
ProviderOption = Annotated[
    str | None,
    typer.Option(
        envvar=PROVIDER_ENV,
        show_envvar=True,
        help="Your organisation, named in the labels (SB 942's provider).",
    ),
]


#: The attacks and perturbations ``--grid`` and ``--attacks`` take, for help texts (this
#: module does not import the attacks, to keep start-up fast; a test keeps it in step with
#: ``synthmark.attacks.list_attacks()``). Q: quality 1-100, F: factor, A: share of the area
#: kept, S: sigma, D: degrees.
ATTACK_NAMES = (
    "none, jpeg:Q, webp:Q, resize:F, crop:A, crop_corner:A, crop_pad:A, blur:S, noise:S, "
    "brightness:F, contrast:F, rotate:D, rotate_crop:D, screenshot:F, hflip, chain, social, "
    "aspect:F, shear:D, compound, regen"
)


def progress_bar(
    console: Console, label: str = "{task.description}", *, transient: bool = True
) -> Progress:
    """The progress bar every long command shows on stderr: label, bar, n/total, time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )


@dataclass
class CliState:
    """Options of the root command, handed to every sub-command through the context."""

    settings: Settings = field(default_factory=Settings.from_env)
    quiet: bool = False

    @property
    def console(self) -> Console:
        """A Rich console on stderr, silent under ``--quiet``."""
        return Console(stderr=True, quiet=self.quiet, highlight=False)


#: Libraries whose own warnings ``--quiet`` silences while a model is loaded and run.
_NOISY_LIBRARIES = ("diffusers", "transformers", "torch")


@contextmanager
def quiet_libraries(quiet: bool) -> Iterator[None]:
    """Under ``--quiet``, silence what diffusers, transformers and torch log or warn while
    the block runs; their levels and the warning filters are restored after it."""
    if not quiet:
        yield
        return
    # diffusers and transformers set their loggers' level when first imported: import them
    # first, so that the level set here is not overwritten.
    import diffusers  # noqa: F401
    import transformers  # noqa: F401

    loggers = [logging.getLogger(name) for name in _NOISY_LIBRARIES]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (a default one outside the root app)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


#: Width of the console for data when stdout is a file or a pipe: wide enough that no value
#: in a table is cut (``commit…``) or wrapped.
_PIPE_WIDTH = 100_000


def data_console() -> Console:
    """A Rich console on stdout for results: fitted to the terminal (or to ``$COLUMNS`` when
    set), or, when stdout is redirected or piped, wide enough that every value is printed in
    full."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=_PIPE_WIDTH)


def fail_unreadable(failed: list[tuple[str, str]], total: int) -> None:
    """Raise the runtime error (``Error: ...`` on stderr, exit 1) for inputs that could not
    be read, naming the first few; nothing when ``failed`` is empty."""
    if not failed:
        return
    from synthmark.errors import SynthmarkError

    named = "; ".join(f"{path}: {why}" for path, why in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    raise SynthmarkError(f"{len(failed)} of {total} input(s) could not be read ({named}{more})")


def emit_json(obj: Any) -> None:
    """Write one JSON object on its own line to stdout."""
    from synthmark.jsonutil import dumps

    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()


def plain(text: str) -> str:
    """Escape Rich markup in text that comes from users or files."""
    from rich.markup import escape

    return escape(text)


def input_args(paths: list[str]) -> list[str]:
    """Command-line inputs, where a lone ``-`` means "read paths from stdin, one per line".

    Paths are decoded like command-line arguments (``os.fsdecode``: a file name that is not
    UTF-8 survives). Raises :class:`~synthmark.errors.UsageError` when stdin holds data with
    NUL bytes (image data piped in by mistake, ``cat photo.png | synthmark screen -``).
    """
    if paths != ["-"]:
        return paths
    from synthmark.errors import UsageError

    buffer = getattr(sys.stdin, "buffer", None)
    text: str | None
    try:
        text = os.fsdecode(buffer.read()) if buffer is not None else sys.stdin.read()
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        raise UsageError(
            "'-' reads a list of file paths from stdin, one per line, not image data; "
            "pass the image's path as an argument instead, or pipe file names "
            "(find . -name '*.png' | synthmark screen -)"
        )
    return [line.strip() for line in text.split("\n") if line.strip()]
