"""Wire a :class:`~synthmark.generate.generator.Generator` from the home folder's state.

The command line and the benchmarks use :func:`build_generator`; library users may build a
``Generator`` from parts themselves. On first use the watermark key and a local signing CA
are created under the home folder (mode 0600), and the caller is told through ``notify``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from synthmark.errors import KeyMissing
from synthmark.generate.generator import Generator, OutputFormat
from synthmark.generate.models import ModelHandle, load_model
from synthmark.settings import Settings


def ensure_watermark_key(settings: Settings, notify: Callable[[str], None]) -> bytes:
    """The watermark key, created (0600) on first use."""
    from synthmark.watermark.keys import create_key, load_key

    try:
        return load_key(settings)
    except KeyMissing:
        key = create_key(settings)
        notify(
            f"Created a watermark key under {settings.keys_dir} (mode 0600); back it up: "
            "without it your marks cannot be read."
        )
        return key


def ensure_credentials(settings: Settings, notify: Callable[[str], None]) -> Any:
    """C2PA signing credentials: the user's (paths or env vars) or a local CA made on first use."""
    from synthmark.labels import init_local_ca, load_credentials

    try:
        return load_credentials(settings)
    except KeyMissing:
        init_local_ca(settings)
        notify(
            f"Created a local signing CA under {settings.keys_dir} (keys mode 0600). "
            "Validators trust it only if given its root certificate; use your own "
            "certificate chain for publishing."
        )
        return load_credentials(settings)


def build_generator(
    settings: Settings,
    *,
    model: str | ModelHandle = "tiny",
    device: str = "auto",
    dtype: str = "auto",
    model_config: str | os.PathLike[str] | None = None,
    output_format: OutputFormat = OutputFormat.png,
    scheduler: str | None = None,
    public_mark: bool = False,
    include_prompt: bool = False,
    provider: str | None = None,
    registry: Any = None,
    notify: Callable[[str], None] = lambda message: None,
    before_model: Callable[[Sequence[Any]], None] | None = None,
) -> Generator:
    """A ready :class:`Generator`: model, synthmark watermark, labeller and registry.

    >>> generator = build_generator(Settings.from_env(), model="tiny")     # doctest: +SKIP
    >>> requests = RequestPlan(prompt="a lighthouse at dusk").requests("tiny")  # doctest: +SKIP
    >>> [r.serial for r in generator.generate(requests, "out/")]          # doctest: +SKIP
    [1]

    ``before_model(markers)``, if given, runs once the watermark schemes exist and before
    the model loads (the slow part): the place to check requests against them
    (:func:`~synthmark.generate.generator.check_sizes`) and fail in a second.
    """
    from synthmark.labels import Labeller
    from synthmark.registry import open_registry
    from synthmark.watermark import get_scheme

    key = ensure_watermark_key(settings, notify)
    marker = get_scheme("synthmark", key=key)
    # The "sdxl" scheme writes diffusers' fixed 48-bit SDXL message with dwtDct (no payload).
    public = get_scheme("sdxl") if public_mark else None
    credentials = ensure_credentials(settings, notify)
    if before_model is not None:
        before_model([m for m in (marker, public) if m is not None])
    handle = (
        model
        if isinstance(model, ModelHandle)
        else load_model(
            model,
            device=device,
            dtype=dtype,
            config=model_config,
            hash_cache=settings.models_dir,
        )
    )
    payload = b"" if public_mark else None
    return Generator(
        handle,
        marker=marker,
        labeller=Labeller(credentials),
        registry=registry if registry is not None else open_registry(settings),
        public_mark=public,
        public_payload=payload,
        output_format=output_format,
        scheduler=scheduler,
        include_prompt=include_prompt,
        provider=provider or settings.provider,
    )


__all__ = ["build_generator", "ensure_credentials", "ensure_watermark_key"]
