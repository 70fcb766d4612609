"""What every ``/v1/`` route of the service shares: its limits, the bearer token check,
the slots that bound concurrent work, the counters ``/healthz`` reports, and the answers
that refuse a request (401, 503, 504)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from synthmark.serve.slots import Slots
from synthmark.settings import Settings


@dataclass(frozen=True)
class ServeConfig:
    """Limits and options of the service."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    timeout_s: float = 30.0
    concurrency: int = 4
    token: str | None = None
    keep_uploads: Path | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_bytes and max_pixels must be positive")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ServeConfig:
        """Config with the token of ``settings`` (``$SYNTHMARK_API_TOKEN``) unless given."""
        overrides.setdefault("token", settings.api_token)
        return cls(**overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> ServeConfig:
        """:meth:`from_settings` with the settings of the environment."""
        return cls.from_settings(Settings.from_env(), **overrides)


def bearer_guard(token: str | None) -> Callable[[Request], bool]:
    """Whether a request may use the ``/v1/`` routes: always without a token, else only with
    ``Authorization: Bearer <token>`` (compared in constant time)."""

    def authorised(request: Request) -> bool:
        if not token:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.encode()
        )

    return authorised


class Guard:
    """The shared parts of the ``/v1/`` routes, built once per app from its config."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.authorised = bearer_guard(config.token)
        self.slots = Slots(config.concurrency, config.timeout_s)
        self.counters = {"requests": 0, "errors": 0, "busy": 0}

    def denied(self, request: Request) -> JSONResponse | None:
        """Count the request; the 401 answer when its bearer token is missing or wrong."""
        self.counters["requests"] += 1
        if self.authorised(request):
            return None
        return JSONResponse(
            {"error": "missing or invalid bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    def busy(self) -> JSONResponse:
        """The 503 answer when no slot came free in time."""
        self.counters["busy"] += 1
        return JSONResponse(
            {"error": "service busy, retry later"}, status_code=503, headers={"Retry-After": "1"}
        )

    def timed_out(self, answer: dict[str, Any]) -> JSONResponse:
        """The 504 answer when the work ran past the time limit."""
        self.counters["errors"] += 1
        return JSONResponse(answer, status_code=504)


__all__ = ["Guard", "ServeConfig", "bearer_guard"]
