"""One access-log line per request: method, path, status, time taken and the verdict.

An ASGI middleware, so that every answer is logged, errors and refusals included. It logs
no image data, no query string (it may carry a file name) and no header (the bearer token
travels in one): only ``POST /v1/screen 200 412 ms synthetic``. An endpoint names the
verdict it gave with :func:`note_verdict`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

#: The logger of the access lines; ``synthmark serve`` sends it to stderr.
ACCESS_LOGGER = "synthmark.access"

_VERDICT_KEY = "synthmark_verdict"


def note_verdict(request: Any, verdict: str | None) -> None:
    """Record the verdict of this request for its access-log line."""
    setattr(request.state, _VERDICT_KEY, verdict)


class AccessLog:
    """ASGI middleware writing one line per HTTP request to :data:`ACCESS_LOGGER`."""

    def __init__(self, app: Any, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})  # the endpoint's request.state writes here
        status = 500  # what the client sees if the app fails before answering

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.logger.info(
                "%s %s %d %.0f ms %s",
                scope.get("method", "-"),
                scope.get("path", "-"),
                status,
                elapsed_ms,
                state.get(_VERDICT_KEY) or "-",
            )


__all__ = ["ACCESS_LOGGER", "AccessLog", "note_verdict"]
