"""The HTTP service: ``POST /v1/screen`` for uploads, ``GET /healthz``, the moderator's
console at ``/`` (:mod:`synthmark.serve.console`, with ``POST /v1/export``) and, with a
manifest resolver, the C2PA Soft Binding Resolution API (:mod:`synthmark.serve.resolution`).

The app is built by :func:`create_app` from a :class:`ServeConfig` and a screening function,
so tests run it with any screener. Uploads are read into memory only, never written to disk
(unless ``keep_uploads`` names a folder); the request body is read in chunks and refused as
soon as it passes ``max_bytes``. Screening runs in worker threads, at most ``concurrency``
at a time, each under a time limit.

Authentication is optional: when a token is configured (``SYNTHMARK_API_TOKEN``), every
``/v1/`` request needs ``Authorization: Bearer <token>``; ``/healthz`` and the page stay open.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from synthmark import __version__
from synthmark.imaging import ImageLimits
from synthmark.screen.record import RecordLike, ScreenRecord, record_json
from synthmark.serve.access import AccessLog, note_verdict
from synthmark.serve.body import TooLarge as _TooLarge
from synthmark.serve.body import read_body as _read_body
from synthmark.serve.console import add_console
from synthmark.serve.guard import Guard, ServeConfig, bearer_guard
from synthmark.serve.resolution import ManifestResolver, add_resolution
from synthmark.serve.slots import Busy, TimedOut
from synthmark.settings import API_TOKEN_ENV

TOKEN_ENV = API_TOKEN_ENV

#: screen(data, name, limits) -> the record (:class:`~synthmark.screen.record.ScreenRecord`,
#: or its JSON object): path, verdict, score, reasons, ... or path and error.
ScreenFn = Callable[[bytes, str, ImageLimits], RecordLike]


def _multipart_file(body: bytes, content_type: str) -> tuple[bytes, str]:
    """The first file part of a multipart/form-data body, parsed in memory."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "multipart body without a boundary")
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        current.clear()
        current.update(headers={}, data=io.BytesIO())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        current["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"].write(data[start:end])

    def on_part_end() -> None:
        parts.append(dict(current))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:
        raise HTTPException(400, f"malformed multipart body ({exc})") from None
    for part in parts:
        disposition = part["headers"].get(b"content-disposition", b"")
        _, dparams = parse_options_header(disposition)
        if b"filename" in dparams:
            name = dparams[b"filename"].decode("utf-8", "replace") or "upload"
            return part["data"].getvalue(), os.path.basename(name)
    raise HTTPException(400, "multipart body has no file part (send the image as 'file')")


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every error answer has the same shape as a screening error: ``{"error": ...}``."""
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


def _too_large(max_bytes: int) -> JSONResponse:
    return JSONResponse({"error": f"upload is over the limit of {max_bytes:,} bytes"}, 413)


class _Screening:
    """``POST /v1/screen`` and ``GET /healthz``, over one screening function and the
    service's shared guard (slots, counters, token)."""

    def __init__(self, guard: Guard, screen: ScreenFn) -> None:
        self.guard = guard
        self.config = guard.config
        self.counters = guard.counters
        self.screen = screen
        self.limits = ImageLimits(
            max_bytes=self.config.max_bytes, max_pixels=self.config.max_pixels
        )
        self.started = time.time()

    async def healthz(self) -> dict[str, Any]:
        """Liveness: the service answers, with counters."""
        return {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.time() - self.started, 1),
            **self.counters,
        }

    async def _upload(self, request: Request) -> tuple[bytes, str] | JSONResponse:
        """The uploaded file and its name, or the answer that refuses it."""
        config = self.config
        try:
            body = await _read_body(request, config.max_bytes + 64 * 1024)
        except _TooLarge:
            return _too_large(config.max_bytes)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            data, name = _multipart_file(body, content_type)
        else:
            data = body
            name = request.query_params.get("filename") or "upload"
        if len(data) > config.max_bytes:
            return _too_large(config.max_bytes)
        if not data:
            empty = ScreenRecord.failed(name, "empty upload (0 bytes)")
            return JSONResponse(record_json(empty), status_code=400)
        if config.keep_uploads is not None:
            digest = hashlib.sha256(data).hexdigest()
            config.keep_uploads.mkdir(parents=True, exist_ok=True)
            (config.keep_uploads / digest).write_bytes(data)
        return data, name

    async def screen_upload(self, request: Request) -> JSONResponse:
        denied = self.guard.denied(request)
        if denied is not None:
            return denied
        upload = await self._upload(request)
        if isinstance(upload, JSONResponse):
            return upload
        data, name = upload
        try:
            work = self.guard.slots.run(self.screen, data, name, self.limits)
            result = record_json(await work)
        except Busy:
            return self.guard.busy()
        except TimedOut:
            late = f"screening took longer than {self.config.timeout_s:g} s"
            return self.guard.timed_out(record_json(ScreenRecord.failed(name, late)))
        note_verdict(request, "error" if result.get("error") else result.get("verdict"))
        if result.get("error"):
            self.counters["errors"] += 1
            return JSONResponse(result, status_code=422)
        return JSONResponse(result)


def create_app(
    config: ServeConfig, screen: ScreenFn, resolver: ManifestResolver | None = None
) -> FastAPI:
    """Build the FastAPI application around a screening function; with a ``resolver``, also
    the C2PA Soft Binding Resolution API (:mod:`synthmark.serve.resolution`)."""
    app = FastAPI(
        title="synthmark",
        version=__version__,
        description="Screen images for AI generation: provenance labels, watermarks, "
        "registry and detector, one verdict with reasons.",
        # Swagger UI and ReDoc load their scripts from a CDN; the service runs offline and
        # behind firewalls, so only the schema is served (GET /openapi.json).
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(AccessLog)  # one line per request; no image data, no token
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    guard = Guard(config)
    service = _Screening(guard, screen)
    app.add_api_route("/healthz", service.healthz, methods=["GET"])
    add_console(
        app,
        authorised=guard.authorised,
        max_bytes=config.max_bytes,
        concurrency=config.concurrency,
        token_required=bool(config.token),
    )
    app.add_api_route(
        "/v1/screen",
        service.screen_upload,
        methods=["POST"],
        summary="Screen one uploaded image",
        description="Send the image as multipart/form-data (field 'file') or as the raw "
        "request body. Returns the same JSON object as `synthmark screen --json`.",
        responses={
            401: {"description": "missing or wrong bearer token"},
            413: {"description": "upload over the size limit"},
            503: {"description": "too busy"},
            504: {"description": "time limit hit"},
        },
    )
    if resolver is not None:
        add_resolution(app, resolver, guard)
    return app


__all__ = ["TOKEN_ENV", "ScreenFn", "ServeConfig", "bearer_guard", "create_app"]
