"""Reads that every SQL backend answers with the same statements.

:class:`SqlRegistry` implements the record look-ups of :class:`~synthmark.registry.base.Registry`
once, on two things a backend provides: its parameter placeholder (``?`` in SQLite, ``%s``
in psycopg) and :meth:`SqlRegistry._query`, which runs one read-only statement and returns
its rows in :data:`~synthmark.registry.schema.COLUMNS` order.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

from synthmark.registry.base import CommitFields, Registry, format_time
from synthmark.registry.manifests import ManifestRepository
from synthmark.registry.phash import bands, to_signed
from synthmark.registry.record import GenerationRecord, RecordStatus
from synthmark.registry.schema import COLUMNS, row_to_record

#: Every column of ``generations``, in the order :func:`row_to_record` reads them.
SELECT = f"SELECT {', '.join(COLUMNS)} FROM generations"  # noqa: S608 - constant columns

#: Fills a reserved row (``?`` placeholders; the values are :func:`commit_params`).
COMMIT = (
    "UPDATE generations SET status = 'committed', created_at = ?, sha256 = ?, "
    "phash = ?, ph0 = ?, ph1 = ?, ph2 = ?, ph3 = ?, manifest_id = ?, "
    "model_id = COALESCE(?, model_id), model_hash = ?, "
    "pipeline = COALESCE(?, pipeline), parameters = ?, prompt_hash = ?, "
    "prompt = ?, image_format = ?, width = ?, height = ? "
    "WHERE serial = ? AND status = 'reserved'"
)


def commit_params(serial: int, fields: CommitFields) -> tuple[Any, ...]:
    """The values of :data:`COMMIT` for ``serial``."""
    return (
        format_time(fields.created_at),
        fields.sha256,
        to_signed(fields.phash),
        *bands(fields.phash),
        fields.manifest_id,
        fields.model_id,
        fields.model_hash,
        fields.pipeline,
        fields.parameters_json,
        fields.prompt_hash,
        fields.prompt,
        fields.image_format,
        fields.width,
        fields.height,
        serial,
    )


class SqlRegistry(ManifestRepository, Registry):
    """A registry kept in a SQL database: the shared read statements, and the manifest
    repository (:class:`~synthmark.registry.manifests.ManifestRepository`)."""

    #: the driver's parameter placeholder
    placeholder: str = "?"

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` written with ``?`` placeholders, in the driver's own style."""
        return self._query(sql.replace("?", self.placeholder), params)

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement written with ``?`` placeholders, in its own transaction."""

    def _records(self, where: str, params: Sequence[Any] = ()) -> list[GenerationRecord]:
        """Records of ``SELECT ... FROM generations {where}``, with ``?`` placeholders."""
        return [row_to_record(row) for row in self._rows(f"{SELECT} {where}", params)]

    def get(self, serial: int) -> GenerationRecord | None:
        rows = self._records("WHERE serial = ?", (serial,))
        return rows[0] if rows else None

    def get_content(self, serial: int) -> bytes | None:
        rows = self._rows(
            "SELECT description FROM content_descriptions WHERE serial = ?", (serial,)
        )
        return bytes(rows[0][0]) if rows else None

    def by_sha256(self, sha256: str) -> list[GenerationRecord]:
        return self._records("WHERE sha256 = ? ORDER BY serial DESC", (sha256.strip().lower(),))

    def by_manifest_id(self, manifest_id: str) -> GenerationRecord | None:
        rows = self._records("WHERE manifest_id = ? ORDER BY serial DESC LIMIT 1", (manifest_id,))
        return rows[0] if rows else None

    def iter_records(
        self, status: RecordStatus | str | None = None, *, batch: int = 1000
    ) -> Iterator[GenerationRecord]:
        wanted = self._status(status)
        last = -1
        while True:
            if wanted is None:
                rows = self._records("WHERE serial > ? ORDER BY serial LIMIT ?", (last, batch))
            else:
                rows = self._records(
                    "WHERE status = ? AND serial > ? ORDER BY serial LIMIT ?",
                    (wanted.value, last, batch),
                )
            if not rows:
                return
            yield from rows
            last = rows[-1].serial

    def list_records(
        self,
        status: RecordStatus | str | None = None,
        limit: int | None = 50,
        newest_first: bool = True,
    ) -> list[GenerationRecord]:
        wanted = self._status(status)
        where, params = ("WHERE status = ?", [wanted.value]) if wanted else ("", [])
        params_any: list[Any] = list(params)
        where += f" ORDER BY serial {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            where += " LIMIT ?"
            params_any.append(max(limit, 0))
        return self._records(where, params_any)

    def count(self, status: RecordStatus | str | None = None) -> int:
        wanted = self._status(status)
        if wanted is None:
            rows = self._rows("SELECT COUNT(*) FROM generations")
        else:
            rows = self._rows("SELECT COUNT(*) FROM generations WHERE status = ?", (wanted.value,))
        return int(rows[0][0])


__all__ = ["COMMIT", "SELECT", "SqlRegistry", "commit_params"]
