"""Grid-phase residual statistics: what up-sampling leaves on an 8x8 grid (the NPR idea).

Latent diffusion models decode a latent that is 8 times smaller than the picture, through
nearest-neighbour up-sampling and convolutions. The decoder's weights then add a faint
pattern that repeats every 8 pixels, fixed for a given decoder, whatever the picture shows.
NPR (Tan et al., CVPR 2024) looks at the residual left by up-sampling; here the residual is
folded onto its position modulo 8 instead:

* for each residual (Laplacian, horizontal and vertical differences) and each plane, the
  mean of the residual at each of the 64 grid phases (signed: a fixed additive pattern),
  and the mean of its magnitude (a periodic change of texture strength);
* each divided by the residual's RMS (so contrast and sharpness cancel) and multiplied by
  the square root of the number of 8x8 cells, so that an image's size does not change the
  spread of the statistic: on a picture with no grid pattern every value is about N(0, 1).

JPEG blocks live on the same grid. The detector re-encodes every image alike before this
step (see :mod:`synthmark.detect.preprocess`), so both classes carry the same JPEG pattern
and what remains different is the decoder's.

The features need the image's own grid: a crop by an offset that is not a multiple of 8,
or any resize, moves or erases the pattern (see the model card's robustness table).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.detect.extractors.residuals import RESIDUALS, planes, residual
from synthmark.errors import UsageError


@register_extractor("grid")
class GridPhaseFeatures(FeatureExtractor):
    """Residual statistics at each phase of the 8x8 up-sampling grid (NPR-style)."""

    def __init__(
        self,
        period: int = 8,
        channels: str = "rgb",
        residuals: tuple[str, ...] | list[str] = RESIDUALS,
        signed: bool = True,
        magnitude: bool = True,
    ) -> None:
        self.period = period
        self.channels = channels
        self.residuals = residuals
        self.signed = signed
        self.magnitude = magnitude


    def _check(self) -> None:
        if self.period < 2:
            raise UsageError(f"grid period must be >= 2, got {self.period}")
        if not (self.signed or self.magnitude):
            raise UsageError("grid features need signed=True or magnitude=True")
        bad = [r for r in self.residuals if r not in RESIDUALS]
        if bad or not self.residuals:
            raise UsageError(f"unknown residual {bad}; known: {', '.join(RESIDUALS)}")
        if self.channels not in ("rgb", "luma"):
            raise UsageError(f"channels must be 'rgb' or 'luma', got {self.channels!r}")

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        n_planes = 3 if self.channels == "rgb" else 1
        per = self.period * self.period * (int(self.signed) + int(self.magnitude))
        return n_planes * len(self.residuals) * per

    def transform_one(self, image: Image.Image) -> Features:
        self._check()
        p = self.period
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        h, w = rgb.shape[:2]
        h, w = h - h % p, w - w % p
        if h < 2 * p or w < 2 * p:
            raise UsageError(f"image of {w}x{h} px is too small for grid features")
        cells = (h // p) * (w // p)
        scale = np.sqrt(cells)
        out: list[np.ndarray] = []
        for plane in planes(rgb[:h, :w], self.channels):
            for kind in self.residuals:
                r = residual(plane, kind)
                rms = float(np.sqrt(np.mean(r * r))) + 1e-6
                blocks = r.reshape(h // p, p, w // p, p)
                if self.signed:
                    mean = blocks.mean(axis=(0, 2)) / rms
                    out.append(((mean - mean.mean()) * scale).ravel())
                if self.magnitude:
                    mag = np.abs(blocks).mean(axis=(0, 2)) / rms
                    out.append(((mag / (mag.mean() + 1e-12) - 1.0) * scale).ravel())
        return np.concatenate(out).astype(np.float32)


__all__ = ["GridPhaseFeatures"]
