"""The registry: a record of every generated image, keyed by serial, SHA-256 and pHash.

Labels are stripped by any re-save; the registry keeps the link from a picture (by its
watermark serial, its exact bytes or its perceptual hash) to its generation record.

>>> reg = open_registry(Settings.from_env())             # doctest: +SKIP
>>> serial = reg.reserve(model_id="tiny")                 # doctest: +SKIP
>>> reg.commit(serial, data=png_bytes, manifest_id="urn:c2pa:...")   # doctest: +SKIP
>>> reg.lookup_image(resized_copy)[0].record.serial == serial        # doctest: +SKIP
True

Backends register by URL scheme in :data:`BACKENDS`: ``sqlite:///path`` (the default, a
file in the home folder) and ``postgresql://user@host:port/db`` (also ``postgres://``; one
database shared by many workers and hosts, needs the ``postgres`` extra). The URL comes
from the caller, else from :attr:`Settings.registry_url` (``$SYNTHMARK_REGISTRY``). The
schema and its migrations live in :mod:`synthmark.registry.schema`, shared by all backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from synthmark.errors import UsageError
from synthmark.names import NameRegistry
from synthmark.registry.base import Commit, Registry, record_to_dict
from synthmark.registry.phash import DEFAULT_RADIUS, MAX_RADIUS, phash_hex, phash_image
from synthmark.registry.record import (
    GenerationRecord,
    PhashMatch,
    RecordStatus,
    RegistryLookup,
)
from synthmark.settings import Settings

#: URL scheme -> a factory that opens the registry at a URL; each backend's module (and
#: its driver) is imported only when a URL of its scheme is opened.
BACKENDS: NameRegistry[Callable[[str], Registry]] = NameRegistry("registry URL scheme")


def _sqlite_path(url: str) -> Path:
    """SQLAlchemy's spelling: ``sqlite:///relative.db``, ``sqlite:////absolute.db``."""
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise UsageError(f"a SQLite registry URL is sqlite:///PATH, got {url!r}")
    return Path(url[len(prefix) :])


@BACKENDS.register("sqlite")
def _open_sqlite(url: str) -> Registry:
    from synthmark.registry.sqlite import SqliteRegistry

    return SqliteRegistry(_sqlite_path(url))


@BACKENDS.register("postgresql")
def _open_postgres(url: str) -> Registry:
    from synthmark.registry.postgres import PostgresRegistry

    return PostgresRegistry(url)


BACKENDS.register("postgres", _open_postgres)


def backend_for(url: str) -> Callable[[str], Registry]:
    """The factory registered for ``url``'s scheme; ``UsageError`` lists the known ones."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    for name in (scheme, scheme.split("+", 1)[0]):
        if name in BACKENDS:
            return BACKENDS[name]
    known = ", ".join(f"{s}://" for s in BACKENDS)
    raise UsageError(f"unknown registry URL scheme in {url!r}; known: {known}")


def open_registry(target: Settings | str | os.PathLike[str] | None = None) -> Registry:
    """Open (creating if needed) a registry.

    ``target`` is a :class:`Settings` (its ``registry_url`` if set, else its
    ``registry_path``), a URL such as ``sqlite:////abs/path.sqlite3`` or
    ``postgresql://user@host/db``, or a plain file path (SQLite). None means
    ``Settings.from_env()`` (which reads ``$SYNTHMARK_REGISTRY``).

    >>> with open_registry("sqlite:////tmp/registry.sqlite3") as reg:   # doctest: +SKIP
    ...     reg.lookup_image(image)[0].record.serial
    1234
    """
    if target is None:
        target = Settings.from_env()
    if isinstance(target, Settings) and target.registry_url:
        target = target.registry_url
    if isinstance(target, Settings):
        target.ensure_private_dir(target.home)
        from synthmark.registry.sqlite import SqliteRegistry

        return SqliteRegistry(target.registry_path)
    text = os.fspath(target)
    if "://" not in text:
        from synthmark.registry.sqlite import SqliteRegistry

        return SqliteRegistry(Path(text))
    return backend_for(text)(text)


__all__ = [
    "BACKENDS",
    "DEFAULT_RADIUS",
    "MAX_RADIUS",
    "Commit",
    "GenerationRecord",
    "PhashMatch",
    "RecordStatus",
    "Registry",
    "RegistryLookup",
    "backend_for",
    "open_registry",
    "phash_hex",
    "phash_image",
    "record_to_dict",
]
