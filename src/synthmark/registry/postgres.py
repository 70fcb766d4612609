"""The PostgreSQL registry: one database shared by many generation workers on many hosts.

Open it with a libpq URL, ``postgresql://user@host:5432/dbname`` (``postgres://`` too;
passwords are best kept in ``~/.pgpass`` or ``PGPASSWORD``; one given in the URL is
never shown in messages or in :attr:`PostgresRegistry.url`). Needs PostgreSQL 14 or
newer and the ``postgres`` extra (``pip install 'synthmark[postgres]'``).

* Serials come from an identity column (a sequence) on the server: every process and
  host asks the same sequence, which never hands a value out twice and never takes one
  back, not even when a transaction rolls back.
* ``reserve`` is one ``INSERT ... RETURNING``; ``commit`` and ``abandon`` are one
  conditional ``UPDATE ... WHERE status = 'reserved'`` each. Two writers racing on the
  same serial cannot both succeed: the second waits for the first's row lock, re-checks
  the status and finds nothing to update.
* The schema is created and migrated by :func:`synthmark.registry.schema.apply_migrations`
  (as for SQLite), inside one transaction holding an advisory lock, so workers that
  open a fresh database together migrate it exactly once.
* Perceptual look-ups search the four band indexes (index-only: each band index
  includes the hash and the serial) and keep only the hashes within the radius on the
  server (``bit_count``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from synthmark.errors import RegistryError, UsageError
from synthmark.registry.base import CommitFields, format_time, utc_now
from synthmark.registry.phash import band_neighbours, bands, from_signed, to_signed
from synthmark.registry.record import GenerationRecord, RecordStatus
from synthmark.registry.schema import (
    COLUMNS,
    IMPORT_COLUMNS,
    MIGRATIONS_TABLE,
    PUT_CONTENT,
    apply_migrations,
    record_row,
    row_to_record,
)
from synthmark.registry.sql import COMMIT, SqlRegistry, commit_params
from synthmark.registry.sql import SELECT as _SELECT

if TYPE_CHECKING:
    import psycopg

#: Oldest server understood: ``bit_count`` (pHash distance on the server) is 14+.
MIN_SERVER_VERSION = 140000

_COLUMN_LIST = ", ".join(COLUMNS)
_MAX_VERSION = f"SELECT MAX(version) FROM {MIGRATIONS_TABLE}"  # noqa: S608 - constant
_COMMIT = f"{COMMIT.replace('?', '%s')} RETURNING {_COLUMN_LIST}"
# One band's candidates: the index gives (band, phash, serial) without the table; the
# distance test drops the far ones before they cross the wire.
_BAND_QUERY = (
    "SELECT serial, phash FROM generations WHERE ph{i} = ANY(%(b{i})s::integer[]) "
    "AND bit_count((phash # %(q)s::bigint)::bit(64)) <= %(r)s"
)
_PHASH_QUERY = " UNION ".join(_BAND_QUERY.format(i=i) for i in range(4))
# After rows with explicit serials: move the sequence past them (never backwards).
_ADVANCE_SEQUENCE = (
    "SELECT setval(pg_get_serial_sequence('generations', 'serial'), m) "
    "FROM (SELECT MAX(serial) AS m FROM generations) AS t WHERE m > COALESCE("
    "pg_sequence_last_value(pg_get_serial_sequence('generations', 'serial')), 0)"
)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the authority and the query)."""
    text = re.sub(r"^([a-zA-Z0-9+.-]+://[^/@:?#]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", text)


def _libpq_url(url: str) -> str:
    """A URL libpq accepts: ``postgresql+psycopg://`` and friends lose the driver."""
    scheme, sep, rest = url.partition("://")
    base = scheme.lower().split("+", 1)[0]
    if not sep or base not in ("postgresql", "postgres"):
        raise UsageError(
            f"a PostgreSQL registry URL is postgresql://USER@HOST:PORT/DATABASE, "
            f"got {redact(url)!r}"
        )
    return f"postgresql://{rest}"


class PostgresRegistry(SqlRegistry):
    """A registry in a PostgreSQL database. One instance per process (or thread group):
    it holds one connection, used under a lock, and reconnects if the server dropped it.
    """

    placeholder = "%s"

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self._conninfo = _libpq_url(url)
        self.url = redact(url)
        self.connect_timeout = connect_timeout
        self._lock = threading.RLock()
        try:
            import psycopg  # noqa: F401 - fail early with the fix
        except ImportError:
            raise RegistryError(
                f"the PostgreSQL registry {self.url} needs psycopg; install it with "
                "pip install 'synthmark[postgres]'"
            ) from None
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = os.getpid()
        self._inherited: list[psycopg.Connection[Any]] = []
        self._closed = False
        self._connect()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # --- plumbing ------------------------------------------------------------------------

    def _error(self, exc: Exception) -> RegistryError:
        detail = redact(str(exc).strip()) or type(exc).__name__
        return RegistryError(f"registry {self.url}: {detail}")

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                application_name="synthmark",
            )
        except psycopg.Error as exc:
            detail = redact(str(exc).strip())
            raise RegistryError(f"cannot open the registry {self.url}: {detail}") from None
        version = conn.info.server_version
        if version < MIN_SERVER_VERSION:
            conn.close()
            raise RegistryError(
                f"registry {self.url} runs PostgreSQL {version // 10000}; synthmark needs "
                f"{MIN_SERVER_VERSION // 10000} or newer"
            )
        self._conn = conn
        self._pid = os.getpid()
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; a fresh one if the server dropped the last one."""
        if self._closed:
            raise RegistryError(f"registry {self.url} is closed")
        conn = self._conn
        if conn is not None and self._pid != os.getpid():
            # A forked child must not use (or close: that ends the parent's session) the
            # parent's connection; keep it referenced and open one of its own.
            self._inherited.append(conn)
            conn = None
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction; rolled back on any error, psycopg errors become RegistryError."""
        import psycopg

        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def _run(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        *,
        read_only: bool = False,
    ) -> list[Any]:
        """One statement in its own (autocommit) transaction; its rows, if any.

        If the server dropped the connection (a restart, an idle timeout), a read is
        retried once on a new connection. A write is not: whether it happened is unknown,
        so the caller gets the error (and the next call reconnects).
        """
        import psycopg

        def once() -> list[Any]:
            cursor = self._connection().execute(sql, params)
            return cursor.fetchall() if cursor.description else []

        with self._lock:
            try:
                return once()
            except psycopg.Error as exc:
                conn = self._conn
                if not (read_only and conn is not None and conn.broken):
                    raise self._error(exc) from None
            try:
                return once()
            except psycopg.Error as exc:
                raise self._error(exc) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params, read_only=True)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql.replace("?", "%s"), params)

    def _migrate(self) -> None:
        with self._transaction() as conn:

            def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                cursor = conn.execute(sql, tuple(params) or None)
                return cursor.fetchall() if cursor.description else []

            apply_migrations(run, "postgresql", self.url, format_time(utc_now()))

    @property
    def schema_version(self) -> int:
        return int(self._run(_MAX_VERSION, read_only=True)[0][0] or 0)

    # --- writing -------------------------------------------------------------------------

    def reserve(
        self,
        *,
        watermark_scheme: str | None = "synthmark",
        model_id: str | None = None,
        pipeline: str | None = None,
    ) -> int:
        rows = self._run(
            "INSERT INTO generations (status, reserved_at, watermark_scheme, model_id, "
            "pipeline) VALUES ('reserved', %s, %s, %s, %s) RETURNING serial",
            (format_time(utc_now()), watermark_scheme, model_id, pipeline),
        )
        if not rows:
            raise RegistryError(f"registry {self.url}: the database allocated no serial")
        return int(rows[0][0])

    def _state(self, serial: int) -> str | None:
        rows = self._run(
            "SELECT status FROM generations WHERE serial = %s", (serial,), read_only=True
        )
        return rows[0][0] if rows else None

    def _commit(self, serial: int, fields: CommitFields) -> GenerationRecord:
        rows = self._run(_COMMIT, commit_params(serial, fields))
        if not rows:
            raise self._missing(serial, self._state(serial))
        return row_to_record(rows[0])

    def _put_content(self, serial: int, scheme: str, description: bytes, now: str) -> bool:
        rows = self._run(
            f"{PUT_CONTENT.replace('?', '%s')} RETURNING serial",
            (serial, scheme, description, now, serial),
        )
        return bool(rows)

    def abandon(self, serial: int, reason: str | None = None) -> None:
        rows = self._run(
            "UPDATE generations SET status = 'abandoned', note = %s "
            "WHERE serial = %s AND status = 'reserved' RETURNING serial",
            (reason, serial),
        )
        if rows:
            return
        state = self._state(serial)
        if state != RecordStatus.ABANDONED.value:
            raise self._missing(serial, state)

    def import_records(self, records: Iterable[GenerationRecord]) -> int:
        """Whole records in one transaction (``COPY``); the serial sequence then moves
        past the largest serial. Concurrent writers wait until the import commits.

        Then ``VACUUM ANALYZE``: fresh statistics, and a visibility map that lets the
        pHash look-ups run as index-only scans (tens of ms faster at a million rows).
        """
        copy_sql = f"COPY generations ({', '.join(IMPORT_COLUMNS)}) FROM STDIN"
        count = 0
        with self._transaction() as conn:
            # Blocks inserts (and so nextval) until the sequence has moved past the import.
            conn.execute("LOCK TABLE generations IN SHARE ROW EXCLUSIVE MODE")
            with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for record in records:
                    copy.write_row(record_row(record))
                    count += 1
            conn.execute(_ADVANCE_SEQUENCE)
        self._run("VACUUM (ANALYZE) generations")  # outside a transaction, as it must be
        return count

    # --- reading -------------------------------------------------------------------------

    def _phash_candidates(self, phash: int, radius: int) -> list[tuple[int, int]]:
        per_band = radius // 4
        params: dict[str, Any] = {"q": to_signed(phash), "r": radius}
        for i, band in enumerate(bands(phash)):
            params[f"b{i}"] = band_neighbours(band, per_band)
        rows = self._run(_PHASH_QUERY, params, read_only=True)
        return [(int(serial), from_signed(value)) for serial, value in rows]

    def _get_many(self, serials: list[int]) -> list[GenerationRecord]:
        if not serials:
            return []
        rows = self._run(
            f"{_SELECT} WHERE serial = ANY(%s::bigint[])", (serials,), read_only=True
        )
        return [row_to_record(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
                self._conn = None


__all__ = ["MIN_SERVER_VERSION", "PostgresRegistry", "redact"]
