"""The manifest repository in the registry: SQLite and PostgreSQL keep the same bytes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthmark.errors import RegistryError, UsageError
from synthmark.registry import Registry, open_registry
from synthmark.registry.schema import MIGRATIONS, SCHEMA_VERSION

STORE = b"\x00\x00\x01\x00jumb" + bytes(range(256)) * 40  # binary, with NUL bytes
ID = "urn:c2pa:5b0c2c8e-1f3a-4d6a-9d1e-0d3c6d1e2f70"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    if request.param == "sqlite":
        reg = open_registry(tmp_path / "r.sqlite3")
    else:
        reg = open_registry(request.getfixturevalue("pg_url"))
    yield reg
    reg.close()


def _commit(reg: Registry, serial: int, manifest_id: str) -> None:
    reg.commit(serial, sha256="ab" * 32, phash=7, manifest_id=manifest_id)


def test_a_store_is_kept_byte_for_byte_and_served_once_committed(registry: Registry) -> None:
    serial = registry.reserve()
    registry.store_manifest(serial, ID, STORE)
    assert registry.manifest_store(ID) is None  # not yet committed
    assert registry.manifest_id_for_serial(serial) is None
    _commit(registry, serial, ID)
    assert registry.manifest_store(ID) == STORE
    assert registry.manifest_id_for_serial(serial) == ID
    assert registry.manifest_store("urn:c2pa:unknown") is None
    assert registry.manifest_id_for_serial(serial + 1000) is None


def test_an_abandoned_generation_never_serves_its_store(registry: Registry) -> None:
    serial = registry.reserve()
    registry.store_manifest(serial, ID, STORE)
    registry.abandon(serial, "signing failed")
    assert registry.manifest_store(ID) is None
    assert registry.manifest_id_for_serial(serial) is None


def test_bad_stores_and_ids_are_refused(registry: Registry) -> None:
    serial = registry.reserve()
    with pytest.raises(UsageError, match="manifest store is 1 to"):
        registry.store_manifest(serial, ID, b"")
    with pytest.raises(UsageError, match="printable"):
        registry.store_manifest(serial, "x\x00y", STORE)
    with pytest.raises(UsageError, match="manifest id is 1 to 256"):
        registry.manifest_store("u" * 300)
    registry.store_manifest(serial, ID, STORE)
    with pytest.raises(RegistryError, match=f"cannot keep the manifest store {ID}"):
        registry.store_manifest(serial, ID, STORE)


def test_migration_2_adds_the_table_to_an_existing_version_1_database(tmp_path: Path) -> None:
    """A registry made before the manifest repository opens, is migrated, keeps its records."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT "
        "NULL, applied_at TEXT NOT NULL)"
    )
    for statement in MIGRATIONS[0].sqlite:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'v1', '2025-01-01')")
    conn.execute(
        "INSERT INTO generations (status, reserved_at) VALUES ('reserved', "
        "'2025-01-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    with open_registry(path) as reg:
        assert reg.schema_version == SCHEMA_VERSION >= 2  # type: ignore[attr-defined]
        assert reg.get(1) is not None
        _commit(reg, 1, ID)
        reg.store_manifest(1, ID, STORE)
        assert reg.manifest_store(ID) == STORE
