"""``--help`` reads well at any width: no types on flags, no broken sentences, no cut names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from synthmark.cli._common import ATTACK_NAMES
from synthmark.cli._help import reflow
from synthmark.cli.main import app

runner = CliRunner()


def _commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group, as the argument list that reaches it."""
    root = typer.main.get_command(app)

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(root, [])


COMMANDS = list(_commands())
IDS = [" ".join(path) or "synthmark" for path, _ in COMMANDS]


def _help(path: list[str], columns: int) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_flags_show_no_type_and_option_names_are_never_cut(path: list[str], command: Any) -> None:
    text = _help(path, 80)
    assert "<bool>" not in text
    names = [n for p in command.params for n in (*p.opts, *p.secondary_opts) if n.startswith("--")]
    for name in [*names, "--help"]:
        assert name in text, f"{name} is cut in `{' '.join(path)} --help` at 80 columns"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_prose_is_not_broken_mid_sentence(path: list[str], command: Any) -> None:
    """At 2000 columns, every prose paragraph of a command's description is one line."""
    lines = [line.strip(" │") for line in _help(path, 2000).splitlines()]
    for paragraph in (command.help or "").split("\n\n"):
        if paragraph.startswith((" ", "\b")) or "\n" in paragraph:
            continue  # an indented block of examples keeps its lines
        assert paragraph.strip() in lines, paragraph


def test_no_developer_paths_or_module_references_in_help() -> None:
    for path, _ in COMMANDS:
        text = " ".join(_help(path, 400).split())
        assert "../shared" not in text, path
        assert "see synthmark." not in text, path


def test_attack_names_in_the_help_are_the_known_attacks() -> None:
    from synthmark.attacks import list_attacks

    listed = {name.strip().split(":")[0] for name in ATTACK_NAMES.split(",")}
    assert listed == set(list_attacks())
    text = " ".join(_help(["eval", "detector"], 400).split())
    assert "crop_corner:A" in text and "hflip" in text


def test_reflow_joins_prose_and_keeps_indented_blocks() -> None:
    text = "First line\ngoes on.\n\nExamples:\n  a --b\n  c --d\n\n    indented alone"
    expected = "First line goes on.\n\nExamples:\n  a --b\n  c --d\n\n    indented alone"
    assert reflow(text) == expected
    assert reflow(None) is None
