"""The PostgreSQL registry against a real server (``tests/pg_server.py``).

The Registry contract (reserve, commit, abandon, look-ups, imports, concurrent writers)
runs against both backends in ``tests/test_registry.py``; this file holds what is
particular to a shared server: URLs and passwords, schema migration by workers that
start together, serials under 8 concurrent processes, row locks, dropped connections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import socket
import threading

import psycopg
import pytest
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.errors import RegistryError, UsageError
from synthmark.registry import (
    BACKENDS,
    GenerationRecord,
    RecordStatus,
    open_registry,
    phash_hex,
)
from synthmark.registry.postgres import PostgresRegistry, redact
from synthmark.registry.schema import MIGRATIONS, SCHEMA_VERSION
from synthmark.settings import Settings
from tests.pg_server import PgServer

pytestmark = pytest.mark.postgres


def _with_password(url: str, password: str) -> str:
    return url.replace("postgresql://synthmark@", f"postgresql://synthmark:{password}@")


# --- opening -------------------------------------------------------------------------------


def test_postgres_urls_open_the_postgres_backend(pg_url: str) -> None:
    assert {"postgresql", "postgres"} <= set(BACKENDS)
    spellings = [pg_url, pg_url.replace("postgresql://", "postgres://", 1),
                 pg_url.replace("postgresql://", "postgresql+psycopg://", 1)]
    serials = []
    for url in spellings:
        with open_registry(url) as reg:
            assert isinstance(reg, PostgresRegistry)
            serials.append(reg.reserve())
    assert serials == [1, 2, 3]  # one database, one sequence, whatever the spelling
    with pytest.raises(UsageError, match=r"known: sqlite://, postgresql://, postgres://"):
        open_registry("mysql://host/db")
    with pytest.raises(UsageError, match="postgresql://USER@HOST"):
        PostgresRegistry("sqlite:///x.db")


def test_settings_and_environment_select_the_registry(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_registry(Settings(registry_url=pg_url)) as reg:
        assert isinstance(reg, PostgresRegistry)
        serial = reg.reserve(model_id="tiny")
    monkeypatch.setenv("SYNTHMARK_REGISTRY", pg_url)
    assert "SYNTHMARK_REGISTRY" not in repr(Settings.from_env())
    with open_registry() as reg:
        assert isinstance(reg, PostgresRegistry) and reg.get(serial) is not None


def test_passwords_never_show(pg_url: str) -> None:
    assert redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db?user=u&password=s3cret&x=1") == (
        "postgresql://h/db?user=u&password=***&x=1"
    )
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    # trust authentication ignores the password; it must still be hidden
    with open_registry(_with_password(pg_url, "s3cret")) as reg:
        assert "s3cret" not in reg.url and ":***@" in reg.url
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"postgresql://synthmark:s3cret@127.0.0.1:{port}/nothing"
    with pytest.raises(RegistryError, match="cannot open the registry") as caught:
        PostgresRegistry(dead, connect_timeout=3)
    assert "s3cret" not in str(caught.value) and f":{port}/nothing" in str(caught.value)


# --- schema --------------------------------------------------------------------------------


def test_schema_is_migrated_once_and_newer_schemas_are_refused(pg_url: str) -> None:
    PostgresRegistry(pg_url).close()
    with PostgresRegistry(pg_url) as reg:
        assert reg.schema_version == SCHEMA_VERSION
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [m.version for m in MIGRATIONS]
        identity = conn.execute(
            "SELECT is_identity FROM information_schema.columns "
            "WHERE table_name = 'generations' AND column_name = 'serial'"
        ).fetchone()
        assert identity == ("YES",)  # the database, not the process, allocates serials
        conn.execute(
            "INSERT INTO schema_migrations VALUES (%s, 'from the future', 'now')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(RegistryError, match="upgrade synthmark"):
        PostgresRegistry(pg_url)


def _open_and_reserve(url: str, queue: multiprocessing.Queue) -> None:
    with open_registry(url) as reg:
        queue.put(reg.reserve())


def test_workers_opening_a_fresh_database_together_migrate_it_once(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_open_and_reserve, args=(pg_url, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    serials = sorted(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert serials == [1, 2, 3, 4]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (
            len(MIGRATIONS),
        )


# --- serials under concurrent writers ------------------------------------------------------


def _writer(url: str, worker: int, count: int, queue: multiprocessing.Queue) -> None:
    with open_registry(url) as reg:
        written = []
        for i in range(count):
            serial = reg.reserve(model_id=f"worker-{worker}")
            digest = hashlib.sha256(f"{worker}-{i}".encode()).hexdigest()
            reg.commit(serial, sha256=digest, phash=(worker << 40) | i, parameters={"i": i})
            written.append((serial, digest))
    queue.put(written)


def test_eight_processes_write_2000_records_without_losing_or_repeating_a_serial(
    pg_url: str,
) -> None:
    workers, per_worker = 8, 250
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_url, w, per_worker, queue))
             for w in range(workers)]
    for p in procs:  # the database is created by whichever worker gets there first
        p.start()
    results = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    written = [item for chunk in results for item in chunk]
    serials = [serial for serial, _ in written]
    assert len(serials) == workers * per_worker
    assert len(set(serials)) == len(serials), "a serial was handed out twice"
    assert sorted(serials) == list(range(1, workers * per_worker + 1)), "a serial was lost"
    with open_registry(pg_url) as reg:
        assert reg.count(RecordStatus.COMMITTED) == reg.count() == workers * per_worker
        stored = {r.serial: r.sha256 for r in reg.iter_records(batch=500)}
    assert stored == dict(written)


def test_racing_commits_on_one_serial_let_exactly_one_win(pg_url: str) -> None:
    with open_registry(pg_url) as reg:
        serial = reg.reserve()
        outcome: list[object] = []
        with psycopg.connect(pg_url) as other:  # another writer, mid-transaction
            other.execute(
                "UPDATE generations SET status = 'abandoned', note = 'other' WHERE serial = %s",
                (serial,),
            )

            def commit() -> None:
                try:
                    outcome.append(reg.commit(serial, sha256="00" * 32, phash=1))
                except RegistryError as exc:
                    outcome.append(exc)

            racer = threading.Thread(target=commit)
            racer.start()
            racer.join(timeout=1.0)
            assert racer.is_alive(), "the commit must wait for the other writer's row lock"
            other.commit()
            racer.join(timeout=30)
        assert len(outcome) == 1 and isinstance(outcome[0], RegistryError)
        assert f"serial {serial} is abandoned" in str(outcome[0])
        record = reg.get(serial)
        assert record is not None and record.status is RecordStatus.ABANDONED


def test_imports_move_the_sequence_forward_never_back(pg_url: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)

    def record(serial: int) -> GenerationRecord:
        return GenerationRecord(serial=serial, status=RecordStatus.COMMITTED, reserved_at=now,
                                created_at=now, sha256=f"{serial:064x}", phash=phash_hex(serial))

    with open_registry(pg_url) as reg:
        assert [reg.reserve() for _ in range(3)] == [1, 2, 3]
        assert reg.import_records([record(100), record(101)]) == 2
        assert reg.reserve() == 102
        assert reg.import_records([record(50)]) == 1
        assert reg.reserve() == 103
        with pytest.raises(RegistryError, match="generations_pkey"):
            reg.import_records([record(60), record(100)])  # 100 exists: nothing is imported
        assert reg.get(60) is None and reg.count() == 8


def test_a_dropped_connection_fails_one_write_and_is_replaced(
    pg_url: str, pg_server: PgServer
) -> None:
    with open_registry(pg_url) as reg:
        first = reg.reserve()

        def kill_backends() -> None:
            with psycopg.connect(pg_server.url(), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'synthmark' AND datname = %s",
                    (pg_url.rsplit("/", 1)[1],),
                )

        kill_backends()
        assert reg.get(first) is not None  # a read is retried on a new connection
        kill_backends()
        with pytest.raises(RegistryError, match="registry postgresql://"):
            reg.reserve()  # a write is not retried: whether it happened is unknown
        assert reg.reserve() > first
    with pytest.raises(RegistryError, match="closed"):
        reg.count()


def _reserve_in_child(reg: PostgresRegistry, queue: multiprocessing.Queue) -> None:
    queue.put(reg.reserve(model_id="child"))


def test_a_forked_child_opens_its_own_connection(pg_url: str) -> None:
    with open_registry(pg_url) as reg:
        first = reg.reserve()
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_reserve_in_child, args=(reg, queue))
        child.start()
        from_child = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0 and from_child == first + 1
        assert reg.reserve() == first + 2  # the parent's session survived the child
        record = reg.get(from_child)
        assert record is not None and record.model_id == "child"


# --- the command line ---------------------------------------------------------------------


def test_registry_cli_reads_postgres_by_option_and_environment(pg_url: str) -> None:
    with open_registry(pg_url) as reg:
        serial = reg.reserve(model_id="tiny")
        reg.commit(serial, sha256="ab" * 32, phash="0123456789abcdef", manifest_id="urn:x")
        reg.abandon(reg.reserve(), "failed")
    runner = CliRunner()
    listed = runner.invoke(app, ["registry", "--registry", pg_url, "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["serial"], r["status"]) for r in rows] == [(2, "abandoned"), (1, "committed")]
    shown = runner.invoke(app, ["registry", "show", "1", "--json"],
                          env={"SYNTHMARK_REGISTRY": pg_url})
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["manifest_id"] == "urn:x"
    bad = runner.invoke(app, ["registry", "--registry", "postgresql://synthmark:pw@127.0.0.1:1/x",
                              "list"])
    assert bad.exit_code == 1 and "Error: cannot open the registry" in bad.output
    assert "pw@" not in bad.output
