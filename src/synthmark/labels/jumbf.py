"""JUMBF boxes of a C2PA manifest store: enough to hand out the active manifest alone.

A manifest store is one JUMBF superbox (``jumb``) whose description box (``jumd``) carries
the C2PA store's type, followed by one superbox per manifest, each labelled with its
manifest id in its own ``jumd``. The Soft Binding Resolution API may return "only the
active manifest" (``returnActiveManifest``): :func:`active_manifest_only` keeps the store's
description and that one manifest box, bytes unchanged. Ingredient manifests are left out,
so a validator reports the ingredients it cannot check.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from synthmark.errors import UsageError

_STORE_TYPE = bytes.fromhex("6332706100110010800000aa00389b71")  # "c2pa" + C2PA's UUID tail


@dataclass(frozen=True)
class Box:
    """One box: its type, where its payload lies in the buffer, and its whole extent."""

    kind: bytes
    start: int
    payload: int
    end: int


def _boxes(data: bytes, start: int, end: int) -> list[Box]:
    out, pos = [], start
    while pos < end:
        if pos + 8 > end:
            raise UsageError(f"JUMBF box header at byte {pos} runs past its superbox")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise UsageError(f"JUMBF box at byte {pos} has a truncated large size")
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise UsageError(f"JUMBF box {kind!r} at byte {pos} has a bad size ({size})")
        out.append(Box(kind, pos, pos + header, pos + size))
        pos += size
    return out


def _label(data: bytes, superbox: Box) -> tuple[bytes, str | None]:
    """The description box's content type and label of a ``jumb`` superbox."""
    children = _boxes(data, superbox.payload, superbox.end)
    if not children or children[0].kind != b"jumd":
        raise UsageError("a JUMBF superbox does not start with its description box")
    desc = data[children[0].payload : children[0].end]
    kind, toggles = desc[:16], desc[16] if len(desc) > 16 else 0
    label = None
    if toggles & 0x02:
        raw = desc[17:].split(b"\x00", 1)[0]
        label = raw.decode("utf-8", errors="replace")
    return kind, label


def active_manifest_only(store: bytes, manifest_id: str) -> bytes:
    """The store with only the manifest labelled ``manifest_id`` (and the store's own
    description).

    Raises:
        UsageError: not a C2PA manifest store, or no manifest with that id in it.
    """
    top = _boxes(store, 0, len(store))
    if len(top) != 1 or top[0].kind != b"jumb" or _label(store, top[0])[0] != _STORE_TYPE:
        raise UsageError("not a C2PA manifest store")
    children = _boxes(store, top[0].payload, top[0].end)
    wanted = [c for c in children[1:] if c.kind == b"jumb" and _label(store, c)[1] == manifest_id]
    if not wanted:
        raise UsageError(f"the store holds no manifest {manifest_id}")
    body = store[children[0].start : children[0].end] + store[wanted[0].start : wanted[0].end]
    return struct.pack(">I4s", 8 + len(body), b"jumb") + body


__all__ = ["active_manifest_only"]
