"""``synthmark serve``: the HTTP screening service (FastAPI + uvicorn, the ``serve`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synthmark.cli._common import DetectorModelOption, DetectorOption, RegistryOption, state
from synthmark.errors import SynthmarkError

MaxBytesOption = Annotated[int, typer.Option(min=1, help="Largest upload, in bytes.")]
MaxPixelsOption = Annotated[int, typer.Option(min=1, help="Largest image, in pixels.")]
TimeoutOption = Annotated[float, typer.Option(min=0.1, help="Time limit per request, seconds.")]
ConcurrencyOption = Annotated[int, typer.Option(min=1, help="Images screened at once.")]
KeepUploadsOption = Annotated[
    Path | None, typer.Option(help="Keep every upload in this folder (off: nothing is kept).")
]


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    max_bytes: MaxBytesOption = 25 * 1024 * 1024,
    max_pixels: MaxPixelsOption = 50_000_000,
    timeout: TimeoutOption = 30.0,
    concurrency: ConcurrencyOption = 4,
    model: DetectorModelOption = None,
    detector: DetectorOption = True,
    registry: RegistryOption = None,
    keep_uploads: KeepUploadsOption = None,
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
        from synthmark.serve import service
        from synthmark.serve.app import ServeConfig
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise SynthmarkError(
            f"the service needs the 'serve' extra: pip install 'synthmark[serve]' ({exc})"
        ) from None

    st = state(ctx)
    if keep_uploads is not None:
        service.check_writable(keep_uploads)
    sock = service.listen(host, port)
    config = ServeConfig.from_settings(
        st.settings,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        timeout_s=timeout,
        concurrency=concurrency,
        keep_uploads=keep_uploads,
    )
    app = service.screening_app(
        st.settings,
        config,
        detector_path=str(model) if model else None,
        use_detector=detector,
        registry_url=registry,
    )
    service.log_access_to_stderr(quiet=st.quiet)
    auth = "bearer token required" if config.token else "no authentication"
    st.console.print(f"synthmark service on http://{host}:{port} ({auth})")
    service.run(app, sock)
