"""Build a :class:`~synthmark.screen.screener.Screener` from the home folder's state.

:class:`ScreenerSpec` is a small picklable recipe, so that each worker process (local pool,
Ray actor, service) builds its own screener, and loads the detector once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from synthmark.errors import KeyMissing
from synthmark.imaging import ImageLimits
from synthmark.screen.screener import Screener, ScreenOptions
from synthmark.settings import Settings


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

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> ScreenerSpec:
        return cls(home=os.fspath(settings.home), **kwargs)  # type: ignore[arg-type]

    def __call__(self) -> Screener:
        return build_screener(self)


def build_screener(spec: ScreenerSpec) -> Screener:
    """A screener with the home folder's watermark key, trust anchor and registry.

    A missing watermark key only means our own mark cannot be read (the public marks still
    are); a missing registry file is created empty only when a key exists.
    """
    from synthmark.labels import local_trust_anchor

    settings = Settings.from_env(spec.home)
    key: bytes | None
    try:
        from synthmark.watermark.keys import load_key

        key = load_key(settings)
    except KeyMissing:
        key = None
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
            trust_anchors=local_trust_anchor(settings),
            registry=registry,
            detector_path=spec.detector_path,
            use_detector=spec.use_detector,
            limits=ImageLimits(max_bytes=spec.max_bytes, max_pixels=spec.max_pixels),
        )
    )


__all__ = ["ScreenerSpec", "build_screener"]
