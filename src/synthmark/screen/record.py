"""One screening result, :class:`ScreenRecord`, and :func:`record_json`, the one function that
turns it into the JSON object the CLI prints, the service answers, the Ray backend and
``--output`` write, and the console exports.

>>> record = ScreenRecord("upload.jpg", VerdictLabel.likely_synthetic, 0.85, ["..."])
>>> list(record_json(record))
['path', 'verdict', 'score', 'reasons', 'format', 'width', 'height', 'layers', 'notes']
>>> record_json(ScreenRecord.failed("broken.png", "cannot decode"))
{'path': 'broken.png', 'error': 'cannot decode'}

A record reads like its JSON object too (``record["verdict"]``), so code written against the
JSON keeps working on records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from synthmark.choices import VerdictLabel


@dataclass
class ScreenRecord:
    """The verdict on one file, its score, reasons and per-layer details; or why the file
    could not be screened (``error``: then only ``path`` is set)."""

    path: str
    verdict: VerdictLabel | None = None
    score: float | None = None
    reasons: list[str] = field(default_factory=list)
    format: str | None = None
    width: int | None = None
    height: int | None = None
    #: Each layer's summary and details (:mod:`synthmark.screen.layers`), JSON-ready.
    layers: dict[str, Any] = field(default_factory=dict)
    #: What the loader changed (a transparency dropped, ...) and what could not be read.
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def failed(cls, path: str, error: str) -> ScreenRecord:
        """The record of a file that could not be screened."""
        return cls(path=path, error=error)

    def to_json(self) -> dict[str, Any]:
        """The JSON object (see :func:`record_json`)."""
        if self.error is not None or self.verdict is None:
            return {"path": self.path, "error": self.error or "no verdict"}
        return {
            "path": self.path,
            "verdict": VerdictLabel(self.verdict).value,
            "score": self.score,
            "reasons": list(self.reasons),
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "layers": self.layers,
            "notes": list(self.notes),
        }

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.to_json()

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)


#: A record, or a record already in its JSON form (read back from a file, sent by the
#: console, or made by a screener of the caller's).
RecordLike: TypeAlias = "ScreenRecord | Mapping[str, Any]"


def record_json(record: RecordLike) -> dict[str, Any]:
    """The JSON object of one record: ``path``, ``verdict``, ``score``, ``reasons``,
    ``format``, ``width``, ``height``, ``layers`` and ``notes``; or ``path`` and ``error``.
    A record already in JSON form is returned as it is (a copy)."""
    if isinstance(record, ScreenRecord):
        return record.to_json()
    return dict(record)


__all__ = ["RecordLike", "ScreenRecord", "record_json"]
