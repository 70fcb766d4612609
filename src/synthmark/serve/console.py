"""The moderator's console: the page at ``/``, its assets under ``/assets/`` and the export.

The page is static HTML, CSS and JavaScript served by the package (no CDN, font or script
from elsewhere), under a strict Content-Security-Policy: scripts and styles only from this
origin, no inline code, requests only to this origin, images from here or from ``blob:``
(the thumbnails the browser makes from the files it uploads). The page learns the
service's concurrency and whether a token is needed from ``data-`` attributes of its body.

``POST /v1/export`` turns the records the console received back into the CLI's output, with
the same functions as ``synthmark screen --csv`` and ``--json``
(:mod:`synthmark.screen.export`), so an export cannot drift from the CLI. The console sends
each record as the exact JSON text the service answered, so numbers keep their form
(``0.0`` stays a float; JavaScript would turn it into ``0``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from synthmark.screen.export import to_csv, to_jsonl
from synthmark.serve.body import TooLarge, read_body

STATIC = Path(__file__).with_name("static")
PAGE = STATIC / "index.html"
ASSETS = STATIC / "assets"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Export formats: media type and file extension.
EXPORTS = {"csv": ("text/csv; charset=utf-8", "csv"), "jsonl": ("application/x-ndjson", "jsonl")}


class _Assets(StaticFiles):
    """The console's assets, with the security headers and revalidated on every load."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


def parse_export(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """The format and records of an export request:
    ``{"format": "csv" | "jsonl", "records": ["<record JSON>", ...]}``.

    Raises:
        ValueError: the body is not that shape (the message says what is wrong).
    """
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(request, dict) or request.get("format") not in EXPORTS:
        raise ValueError(f"'format' must be one of: {', '.join(EXPORTS)}")
    texts = request.get("records")
    if not isinstance(texts, list):
        raise ValueError("'records' must be a list of record JSON texts")
    records = []
    for i, text in enumerate(texts):
        try:
            record = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise ValueError(f"record {i} is not the JSON text of a record with a 'path'")
        records.append(record)
    return str(request["format"]), records


def add_console(
    app: FastAPI,
    *,
    authorised: Callable[[Request], bool],
    max_bytes: int,
    concurrency: int,
    token_required: bool,
) -> None:
    """Serve the console at ``/``, its assets at ``/assets/`` and ``POST /v1/export``."""
    page = (
        PAGE.read_text(encoding="utf-8")
        .replace("__CONCURRENCY__", str(concurrency))
        .replace("__AUTH__", "required" if token_required else "none")
    )
    app.mount("/assets", _Assets(directory=ASSETS), name="assets")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def console() -> HTMLResponse:
        return HTMLResponse(page, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @app.post(
        "/v1/export",
        summary="Records as CSV or JSON Lines",
        description='Send {"format": "csv" | "jsonl", "records": [...]}, each record the JSON '
        "text that POST /v1/screen answered. Returns the file `synthmark screen --csv` or "
        "`--json` writes for the same records.",
        responses={400: {"description": "not that shape"}, 401: {"description": "no token"}},
    )
    async def export(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse(
                {"error": "missing or invalid bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            fmt, records = parse_export(await read_body(request, max_bytes))
        except TooLarge:
            return JSONResponse(
                {"error": f"export is over the limit of {max_bytes:,} bytes"}, status_code=413
            )
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        media_type, extension = EXPORTS[fmt]
        text = to_csv(records) if fmt == "csv" else to_jsonl(records)
        return Response(
            text.encode("utf-8", "backslashreplace"),
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="synthmark-screen.{extension}"'},
        )


__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "add_console", "parse_export"]
