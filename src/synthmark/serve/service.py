"""Wire the service from the home folder's state and run it: what ``synthmark serve`` does.

:func:`screening_app` builds the screener (detector loaded before the first request), the
Soft Binding Resolution API's resolver when there is a registry, and the app;
:func:`listen` binds the socket first, so that a busy port is an error before the service
says it runs; :func:`run` serves on it with uvicorn.
"""

from __future__ import annotations

import logging
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from synthmark.errors import SynthmarkError
from synthmark.serve.access import ACCESS_LOGGER
from synthmark.serve.app import ServeConfig, create_app
from synthmark.settings import Settings


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, so that a busy port or a bad host is an error here,
    before the service says it runs."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:  # socket.gaierror included
        raise SynthmarkError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write a file there, or raise: ``keep_uploads`` must work from
    the first request."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise SynthmarkError(
            f"--keep-uploads {folder}: cannot write there ({exc.strerror or exc})"
        ) from None


def _resolver(screener: Any) -> Any:
    """The Soft Binding Resolution API's resolver over the screener's registry and key (None
    without a registry: then the API is not served)."""
    if screener.options.registry is None:
        return None
    from synthmark.labelling.resolve import ManifestResolver

    options = screener.options
    return ManifestResolver(options.registry, options.watermark_key, options.limits)


def screening_app(
    settings: Settings,
    config: ServeConfig,
    *,
    detector_path: str | None = None,
    use_detector: bool = True,
    registry_url: str | None = None,
) -> FastAPI:
    """The service over a screener built from ``settings`` (with ``config``'s limits); the
    detector is loaded here, before the first request, not during it."""
    from synthmark.screen.assemble import ScreenerSpec, build_screener

    spec = ScreenerSpec.from_settings(
        settings,
        detector_path=detector_path,
        use_detector=use_detector,
        registry_url=registry_url,
        max_bytes=config.max_bytes,
        max_pixels=config.max_pixels,
    )
    screener = build_screener(spec)
    if use_detector:
        _ = screener.detector
    return create_app(
        config, lambda data, name, limits: screener.screen_bytes(data, name), _resolver(screener)
    )


def log_access_to_stderr(quiet: bool) -> None:
    """Send the service's access lines (method, path, status, ms, verdict) to stderr, one
    per request with a UTC time stamp; ``quiet`` silences them."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if any(getattr(h, "synthmark_access", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.synthmark_access = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False  # the lines go to stderr once, whatever the root logger does


def run(app: FastAPI, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` with uvicorn until stopped (Ctrl-C).

    Raises:
        SynthmarkError: the server did not start (uvicorn said why on stderr).
    """
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    if not server.started:
        raise SynthmarkError("the service did not start (see the messages above)")


__all__ = ["check_writable", "listen", "log_access_to_stderr", "run", "screening_app"]
