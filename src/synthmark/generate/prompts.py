"""Prompts files: plain text, CSV or JSON Lines, with optional per-row seed and negative prompt.

* ``.txt``: one prompt per line; blank lines and lines starting with ``#`` are skipped.
* ``.csv``: a header row with ``prompt`` and optionally ``seed`` and ``negative_prompt``
  (or ``negative``).
* ``.jsonl``: one object per line with the same keys.

Every bad row is reported with its line number; nothing is silently dropped.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from synthmark.errors import UsageError


@dataclass(frozen=True)
class PromptRow:
    """One prompt to render, with its optional overrides."""

    prompt: str
    seed: int | None = None
    negative_prompt: str | None = None
    line: int | None = None


def _seed(value: object, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        seed = int(str(value))
    except ValueError:
        raise UsageError(f"{where}: seed must be an integer, got {value!r}") from None
    if not 0 <= seed < 2**64:
        raise UsageError(f"{where}: seed must be between 0 and 2**64-1, got {seed}")
    return seed


def _row(data: dict[str, object], where: str, line: int) -> PromptRow:
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UsageError(f"{where}: missing or empty 'prompt'")
    negative = data.get("negative_prompt", data.get("negative"))
    if negative is not None and not isinstance(negative, str):
        raise UsageError(f"{where}: 'negative_prompt' must be text, got {negative!r}")
    return PromptRow(prompt.strip(), _seed(data.get("seed"), where), negative or None, line)


def read_prompts(path: str | Path) -> list[PromptRow]:
    """Read a prompts file; raises :class:`UsageError` naming the file and line of a bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"prompts file {path} does not exist") from None
    except UnicodeDecodeError:
        raise UsageError(f"prompts file {path} is not UTF-8 text") from None
    suffix = path.suffix.lower()
    rows: list[PromptRow] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "prompt" not in reader.fieldnames:
            raise UsageError(
                f"{path}: CSV needs a header row with a 'prompt' column, got {reader.fieldnames}"
            )
        for number, record in enumerate(reader, start=2):
            rows.append(_row(dict(record), f"{path}:{number}", number))
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise UsageError(f"{path}:{number}: expected a JSON object with 'prompt'")
            rows.append(_row(record, f"{path}:{number}", number))
    elif suffix in (".txt", ""):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                rows.append(PromptRow(line.strip(), line=number))
    else:
        raise UsageError(f"{path}: unknown prompts file type {suffix!r}; use .txt, .csv or .jsonl")
    if not rows:
        raise UsageError(f"{path}: no prompts found")
    return rows


__all__ = ["PromptRow", "read_prompts"]
