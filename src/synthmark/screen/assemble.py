"""Build a :class:`~synthmark.screen.screener.Screener` from the home folder's state.

:class:`ScreenerSpec` is a small picklable recipe, so that each worker process (local pool,
Ray actor, service) builds its own screener, and loads the detector once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from synthmark.imaging import ImageLimits
from synthmark.screen.screener import Screener, ScreenOptions
from synthmark.settings import Settings
from synthmark.watermark.keys import NO_KEY_WARNING, find_key, retired_keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenerSpec:
    """Everything needed to build a screener in another process."""

    home: str
    detector_path: str | None = None
    use_detector: bool = True
    use_registry: bool = True
    registry_url: str | None = None
    max_bytes: int = ImageLimits().max_bytes
    max_pixels: int = ImageLimits().max_pixels
    #: the watermark key file named by the user (``$SYNTHMARK_WATERMARK_KEY``); None: the
    #: home folder's key, if there is one
    watermark_key_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> ScreenerSpec:
        """The spec for ``settings``' home. The watermark key is checked here, once, before
        any work: a key named by ``$SYNTHMARK_WATERMARK_KEY`` that is missing or invalid
        raises :class:`~synthmark.errors.KeyMissing`; no key at all logs one warning (every
        record then notes that synthmark's mark was not checked)."""
        kwargs.setdefault("watermark_key_file", settings.watermark_key_file)
        spec = cls(home=os.fspath(settings.home), **kwargs)  # type: ignore[arg-type]
        if find_key(settings, spec.watermark_key_file) is None:
            logger.warning(NO_KEY_WARNING)
        return spec

    def __call__(self) -> Screener:
        return build_screener(self)

    def preload(self, *, reuse: bool) -> Callable[[], Screener]:
        """A factory of screeners, with the detector loaded now, once, so that a missing or
        broken model fails here and not once per file. With ``reuse`` (one process), the
        factory hands out the screener built here; otherwise each worker builds its own."""
        if not self.use_detector:
            return self
        screener = self()
        _ = screener.detector
        return (lambda: screener) if reuse else self


def build_screener(spec: ScreenerSpec) -> Screener:
    """A screener with the home folder's watermark key, trust anchor and registry.

    When no key is configured, our own mark is not read (the public marks still are, and
    each record notes it); a key that is configured but missing or invalid raises
    :class:`~synthmark.errors.KeyMissing`. A missing registry file is created empty only
    when a key exists.
    """
    from synthmark.labels import local_trust_anchor

    settings = Settings.from_env(spec.home)
    key = find_key(settings, spec.watermark_key_file)
    # the home folder's retired keys read too (not with a key file named by the user)
    retired = tuple(retired_keys(settings)) if key and not spec.watermark_key_file else ()
    registry = None
    if spec.use_registry:
        from synthmark.registry import open_registry

        if spec.registry_url:
            registry = open_registry(spec.registry_url)
        elif settings.registry_path.exists():
            registry = open_registry(settings)
    return Screener(
        ScreenOptions(
            watermark_key=key,
            retired_keys=retired,
            trust_anchors=local_trust_anchor(settings),
            registry=registry,
            detector_path=spec.detector_path,
            use_detector=spec.use_detector,
            limits=ImageLimits(max_bytes=spec.max_bytes, max_pixels=spec.max_pixels),
        )
    )


def open_screener(settings: Settings | None = None, **options: object) -> Screener:
    """A screener with the home folder's key, trust anchor and registry (``settings``:
    default :meth:`Settings.from_env`); ``options`` are :class:`ScreenerSpec`'s fields.

    >>> screener = open_screener(use_detector=False)               # doctest: +SKIP
    >>> record = screener.screen_path("upload.jpg")                # doctest: +SKIP
    >>> record["verdict"], record["reasons"][0]                    # doctest: +SKIP
    ('synthetic', 'synthmark watermark found: serial 1234, ...')
    """
    return build_screener(ScreenerSpec.from_settings(settings or Settings.from_env(), **options))


__all__ = ["ScreenerSpec", "build_screener", "open_screener"]
