"""Screening records as CSV rows and JSON Lines: one writer for the CLI and the service.

``synthmark screen --csv`` / ``--json`` and the console's export (``POST /v1/export``) both
call these functions, so a file exported from the browser has the same bytes as the CLI's
output for the same records.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from synthmark.jsonutil import dumps
from synthmark.screen.record import RecordLike, record_json

#: The CSV columns, in order.
CSV_HEADER = ("path", "verdict", "score", "reasons", "error")


def utf8(text: Any) -> str:
    """Text that encodes to valid UTF-8: a file name's undecodable bytes become ``\\udcff``."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def csv_row(record: RecordLike) -> list[Any]:
    """One record's CSV row (reasons joined by `` | ``); see :data:`CSV_HEADER`."""
    record = record_json(record)
    return [
        utf8(record["path"]),
        record.get("verdict", ""),
        record.get("score", ""),
        " | ".join(record.get("reasons", [])),
        utf8(record.get("error", "")),
    ]


def jsonl_line(record: RecordLike) -> str:
    """One record as one line of JSON Lines, with its newline."""
    return dumps(record_json(record)) + "\n"


def to_csv(records: Iterable[RecordLike]) -> str:
    """The header and a row per record, as ``csv.writer`` writes them (``\\r\\n`` lines)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for record in records:
        writer.writerow(csv_row(record))
    return out.getvalue()


def to_jsonl(records: Iterable[RecordLike]) -> str:
    """A JSON Lines document, one record per line."""
    return "".join(jsonl_line(record) for record in records)


__all__ = ["CSV_HEADER", "csv_row", "jsonl_line", "to_csv", "to_jsonl", "utf8"]
