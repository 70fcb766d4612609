"""Help text that reads well at any terminal width.

Two things Typer's Rich help does not do on its own:

* a docstring's prose keeps the line breaks of the source file, so at another width a
  sentence breaks mid-line; :func:`reflow` joins the lines of each prose paragraph (an
  indented block, such as a list of examples, keeps its lines);
* a plain flag (``--json``, ``--help``) gets a ``<bool>`` type, as if it took a value.

:func:`tidy` applies both to a command and every command under it; the root group calls it
once, so a command added later gets the same treatment.
"""

from __future__ import annotations

import inspect
from typing import Any


def reflow(text: str | None) -> str | None:
    """Join the lines of each prose paragraph of ``text``; indented blocks keep theirs."""
    if not text:
        return text
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        if paragraph.startswith(("\b", " ")) or any(line[:1].isspace() for line in lines[1:]):
            paragraphs.append(paragraph)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False)) and not getattr(param, "count", False)


def _plain_help_option(command: Any) -> None:
    """Make ``--help`` (built lazily, on first use) show no type."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option


def tidy(command: Any) -> None:
    """Reflow the help of ``command`` and its sub-commands; no type shown for flags."""
    command.help = reflow(command.help)
    for param in command.params:
        if _is_flag(param) and param.metavar is None:
            param.metavar = ""
    _plain_help_option(command)
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)


__all__ = ["reflow", "tidy"]
