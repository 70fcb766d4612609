"""The embedded SQLite registry: one file in the home folder, safe for concurrent writers.

* WAL journal: readers never block the writer, and the writer never blocks readers.
* Every write is ``BEGIN IMMEDIATE``: a writer takes the write lock up front, so two
  processes never both read and then collide on upgrade; a busy database is waited for
  (``timeout``, 30 s by default) instead of failing.
* ``synchronous=FULL`` by default: a committed record survives a power cut.
* Serials come from ``INTEGER PRIMARY KEY AUTOINCREMENT``: never reused, even after an
  abandoned or rolled-back reservation.
* The file is created with mode 0600 (it may hold prompts).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from synthmark.errors import RegistryError, UsageError
from synthmark.registry.base import CommitFields, format_time, utc_now
from synthmark.registry.phash import band_neighbours, bands, from_signed
from synthmark.registry.record import GenerationRecord, RecordStatus
from synthmark.registry.schema import (
    IMPORT_COLUMNS,
    MIGRATIONS_TABLE,
    PUT_CONTENT,
    apply_migrations,
    record_row,
    row_to_record,
)
from synthmark.registry.sql import COMMIT, SqlRegistry, commit_params
from synthmark.registry.sql import SELECT as _SELECT

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_MAX_VERSION = f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}"  # noqa: S608 - constant


class SqliteRegistry(SqlRegistry):
    """A registry in one SQLite file. One instance per process (or thread group)."""

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 30.0, synchronous: str = "FULL"
    ) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise UsageError(
                f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        self.path = Path(path).expanduser()
        self.url = f"sqlite:///{self.path}"
        self.timeout = timeout
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise RegistryError(f"cannot open the registry {self.path}: {exc}") from None
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RegistryError(f"{self.path}: cannot switch to WAL (journal mode {mode})")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise RegistryError(f"cannot open the registry {self.path}: {exc}") from None
        except RegistryError:
            self._conn.close()
            raise

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, lock taken up front; errors become RegistryError."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise RegistryError(f"registry {self.path} is unavailable: {exc}") from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):  # already gone: report the first error
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise RegistryError(f"registry {self.path}: {exc}") from None
                raise

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise RegistryError(f"registry {self.path}: {exc}") from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._read(sql, params)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._write() as conn:
            conn.execute(sql, tuple(params))

    def _migrate(self) -> None:
        with self._write() as conn:

            def run(sql: str, params: Any) -> list[tuple[Any, ...]]:
                return conn.execute(sql, tuple(params)).fetchall()

            apply_migrations(run, "sqlite", str(self.path), format_time(utc_now()))

    @property
    def schema_version(self) -> int:
        rows = self._read(_MAX_VERSION)
        return int(rows[0][0] or 0)

    # --- writing -------------------------------------------------------------------------

    def reserve(
        self,
        *,
        watermark_scheme: str | None = "synthmark",
        model_id: str | None = None,
        pipeline: str | None = None,
    ) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO generations (status, reserved_at, watermark_scheme, model_id, "
                "pipeline) VALUES ('reserved', ?, ?, ?, ?)",
                (format_time(utc_now()), watermark_scheme, model_id, pipeline),
            )
            serial = cursor.lastrowid
        if serial is None:
            raise RegistryError("the database allocated no serial")
        return serial

    def _state(self, conn: sqlite3.Connection, serial: int) -> str | None:
        row = conn.execute("SELECT status FROM generations WHERE serial = ?", (serial,)).fetchone()
        return row[0] if row else None

    def _commit(self, serial: int, fields: CommitFields) -> GenerationRecord:
        with self._write() as conn:
            cursor = conn.execute(COMMIT, commit_params(serial, fields))
            if cursor.rowcount != 1:
                raise self._missing(serial, self._state(conn, serial))
            row = conn.execute(f"{_SELECT} WHERE serial = ?", (serial,)).fetchone()
        return row_to_record(row)

    def _put_content(self, serial: int, scheme: str, description: bytes, now: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute(PUT_CONTENT, (serial, scheme, description, now, serial))
            return cursor.rowcount == 1

    def abandon(self, serial: int, reason: str | None = None) -> None:
        with self._write() as conn:
            state = self._state(conn, serial)
            if state == RecordStatus.ABANDONED.value:
                return
            if state != RecordStatus.RESERVED.value:
                raise self._missing(serial, state)
            conn.execute(
                "UPDATE generations SET status = 'abandoned', note = ? WHERE serial = ?",
                (reason, serial),
            )

    def import_records(self, records: Iterable[GenerationRecord]) -> int:
        sql = (
            f"INSERT INTO generations ({', '.join(IMPORT_COLUMNS)}) "  # noqa: S608 - constant
            f"VALUES ({', '.join('?' * len(IMPORT_COLUMNS))})"
        )
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(sql, (record_row(r) for r in records))
            return conn.total_changes - before

    # --- reading -------------------------------------------------------------------------

    def _phash_candidates(self, phash: int, radius: int) -> list[tuple[int, int]]:
        per_band = radius // 4
        parts, params = [], []
        for i, band in enumerate(bands(phash)):
            values = band_neighbours(band, per_band)
            parts.append(
                f"SELECT serial, phash FROM generations "  # noqa: S608 - i is 0..3
                f"WHERE ph{i} IN ({', '.join('?' * len(values))})"
            )
            params.extend(values)
        rows = self._read(" UNION ".join(parts), params)
        return [(serial, from_signed(value)) for serial, value in rows if value is not None]

    def _get_many(self, serials: list[int]) -> list[GenerationRecord]:
        if not serials:
            return []
        marks = ", ".join("?" * len(serials))
        rows = self._read(f"{_SELECT} WHERE serial IN ({marks})", serials)
        return [row_to_record(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


__all__ = ["SqliteRegistry"]
