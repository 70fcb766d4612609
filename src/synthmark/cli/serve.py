"""``synthmark serve``: the HTTP screening service (FastAPI + uvicorn, the ``serve`` extra)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import Annotated

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
        Path | None, typer.Option("--model", help="Detector model folder (default: built in).")
    ] = None,
    detector: Annotated[bool, typer.Option("--detector/--no-detector")] = True,
    registry: RegistryOption = None,
    keep_uploads: Annotated[
        Path | None, typer.Option(help="Keep every upload in this folder (off: nothing is kept).")
    ] = None,
) -> None:
    """Serve POST /v1/screen (multipart field 'file', or the raw body), GET /healthz, the
    OpenAPI schema at /openapi.json and a console for moderators at / (batch upload,
    per-layer details, CSV and JSON Lines export).

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
    app = create_app(config, lambda data, name, limits: screener.screen_bytes(data, name))
    auth = "bearer token required" if config.token else "no authentication"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    st.console.print(f"synthmark service on http://{host}:{port} ({auth})")
    server.run(sockets=[sock])
    if not server.started:
        raise SynthmarkError("the service did not start (see the messages above)")
