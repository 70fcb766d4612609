"""Reading a request body with a size bound, shared by the service's upload and export routes."""

from __future__ import annotations

from fastapi import Request


class TooLarge(Exception):
    """The body is over the limit (refused as soon as it passes it)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, read in chunks; raises :class:`TooLarge` past ``limit`` bytes (or
    at once when the declared ``Content-Length`` is over it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge()
    buf = bytearray()
    async for chunk in request.stream():
        buf.extend(chunk)
        if len(buf) > limit:
            raise TooLarge()
    return bytes(buf)


__all__ = ["TooLarge", "read_body"]
