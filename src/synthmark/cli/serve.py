"""``synthmark serve``: the HTTP screening service (FastAPI + uvicorn, the ``serve`` extra)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from synthmark.cli._common import RegistryOption, state
from synthmark.errors import SynthmarkError


def _listen(host: str, port: int) -> socket.socket:
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


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and write a file there, or raise: --keep-uploads must work from the
    first request."""
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


def _log_access_to_stderr(quiet: bool) -> None:
    """Send the service's access lines (method, path, status, ms, verdict) to stderr, one
    per request with a UTC time stamp; ``synthmark --quiet serve`` silences them."""
    import logging
    import sys
    import time

    from synthmark.serve.access import ACCESS_LOGGER

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


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    max_bytes: Annotated[int, typer.Option(min=1, help="Largest upload, in bytes.")] = 25
    * 1024
    * 1024,
    max_pixels: Annotated[int, typer.Option(min=1, help="Largest image, in pixels.")] = 50_000_000,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Time limit per request, seconds.")
    ] = 30.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Images screened at once.")] = 4,
    model: Annotated[
        Path | None,
        typer.Option("--model", exists=True, help="Detector model folder (default: built in)."),
    ] = None,
    detector: Annotated[
        bool, typer.Option("--detector/--no-detector", help="Run the learned detector.")
    ] = True,
    registry: RegistryOption = None,
    keep_uploads: Annotated[
        Path | None, typer.Option(help="Keep every upload in this folder (off: nothing is kept).")
    ] = None,
) -> None:
    """Serve POST /v1/screen (multipart field 'file', or the raw body), GET /healthz, the
    OpenAPI schema at /openapi.json and a console for moderators at / (batch upload,
    per-layer details, CSV and JSON Lines export).

    With a registry, also the C2PA Soft Binding Resolution API (base URL http://HOST:PORT/v1):
    GET /v1/matches/byBinding?alg=&value=, POST /v1/matches/byContent (the image as the
    body), GET /v1/manifests/{manifestId} and GET /v1/services/supportedAlgorithms, to
    recover the manifest of a copy that lost it.

    Each request writes one access line to stderr (UTC time, method, path, status, time
    taken, verdict; never image data or the token); --quiet silences them.

    Set SYNTHMARK_API_TOKEN to require 'Authorization: Bearer <token>' on /v1/ requests.

    Example: SYNTHMARK_API_TOKEN=s3cret synthmark serve --port 8080 --concurrency 2
    """
    try:
        import uvicorn

        from synthmark.serve.app import ServeConfig, create_app
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise SynthmarkError(
            f"the service needs the 'serve' extra: pip install 'synthmark[serve]' ({exc})"
        ) from None
    from synthmark.screen.assemble import ScreenerSpec, build_screener

    st = state(ctx)
    if keep_uploads is not None:
        _check_writable(keep_uploads)
    sock = _listen(host, port)
    config = ServeConfig.from_env(
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        timeout_s=timeout,
        concurrency=concurrency,
        keep_uploads=keep_uploads,
    )
    spec = ScreenerSpec.from_settings(
        st.settings,
        detector_path=str(model) if model else None,
        use_detector=detector,
        registry_url=registry,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
    )
    screener = build_screener(spec)
    if detector:
        _ = screener.detector  # load before the first request, not during it
    app = create_app(
        config, lambda data, name, limits: screener.screen_bytes(data, name), _resolver(screener)
    )
    _log_access_to_stderr(quiet=st.quiet)
    auth = "bearer token required" if config.token else "no authentication"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    st.console.print(f"synthmark service on http://{host}:{port} ({auth})")
    server.run(sockets=[sock])
    if not server.started:
        raise SynthmarkError("the service did not start (see the messages above)")
