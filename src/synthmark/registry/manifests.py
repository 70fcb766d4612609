"""The manifest repository: each signed C2PA manifest store, kept beside its record.

Labels are stripped by any re-save; the watermark is not. The serial it carries names a
record, and the record's manifest id names the manifest store kept here (the exact bytes
c2pa-python produced when signing). That is what makes our Content Credentials
*durable*: ``inspect``, ``screen`` and the Soft Binding Resolution API of ``serve``
recover the manifest for a copy without metadata.

A store is served only once its record is committed: a store written for a generation
that then failed (abandoned serial) is never returned.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from typing import Any

from synthmark.errors import RegistryError, UsageError
from synthmark.registry.base import format_time, utc_now

#: Largest manifest store accepted (c2pa's own stores are tens of kB; ingredients add more).
MAX_STORE_BYTES = 16 * 1024 * 1024
#: Longest manifest id accepted in a query (``urn:c2pa:<uuid>`` and vendor forms are < 100).
MAX_ID_CHARS = 256

_INSERT = (
    "INSERT INTO manifests (manifest_id, serial, store, sha256, stored_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
_BY_ID = (
    "SELECT m.store FROM manifests m JOIN generations g ON g.serial = m.serial "
    "WHERE m.manifest_id = ? AND g.status = 'committed'"
)
_BY_SERIAL = (
    "SELECT m.manifest_id FROM manifests m JOIN generations g ON g.serial = m.serial "
    "AND g.manifest_id = m.manifest_id WHERE g.serial = ? AND g.status = 'committed'"
)


def check_manifest_id(manifest_id: str) -> str:
    """``manifest_id`` if it may be looked up; :class:`UsageError` otherwise."""
    if not manifest_id or len(manifest_id) > MAX_ID_CHARS or not manifest_id.isprintable():
        raise UsageError(
            f"a manifest id is 1 to {MAX_ID_CHARS} printable characters, got {manifest_id[:40]!r}"
        )
    return manifest_id


class ManifestRepository(abc.ABC):
    """Manifest-store methods of a SQL registry, on the backend's read and write primitives."""

    @abc.abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read statement written with ``?`` placeholders."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement (``?`` placeholders) in its own transaction."""

    def store_manifest(self, serial: int, manifest_id: str, store: bytes) -> None:
        """Keep the manifest store ``store`` whose active manifest is ``manifest_id``.

        Call before :meth:`~synthmark.registry.base.Registry.commit` of ``serial``; it is
        served once that record is committed.

        Raises:
            UsageError: an empty or oversized store, or a malformed id.
            RegistryError: the id is stored already, or the database failed.
        """
        check_manifest_id(manifest_id)
        if not store or len(store) > MAX_STORE_BYTES:
            raise UsageError(
                f"a manifest store is 1 to {MAX_STORE_BYTES:,} bytes, got {len(store):,}"
            )
        digest = hashlib.sha256(store).hexdigest()
        try:
            self._execute(
                _INSERT, (manifest_id, serial, store, digest, format_time(utc_now()))
            )
        except RegistryError as exc:
            raise RegistryError(f"cannot keep the manifest store {manifest_id}: {exc}") from None

    def manifest_store(self, manifest_id: str) -> bytes | None:
        """The manifest store whose active manifest is ``manifest_id`` (committed records
        only), or None."""
        rows = self._rows(_BY_ID, (check_manifest_id(manifest_id),))
        return bytes(rows[0][0]) if rows else None

    def manifest_id_for_serial(self, serial: int) -> str | None:
        """The id of the kept manifest of the committed record ``serial``, or None."""
        if not 0 <= serial < 2**63:
            return None
        rows = self._rows(_BY_SERIAL, (serial,))
        return str(rows[0][0]) if rows else None


__all__ = ["MAX_ID_CHARS", "MAX_STORE_BYTES", "ManifestRepository", "check_manifest_id"]
