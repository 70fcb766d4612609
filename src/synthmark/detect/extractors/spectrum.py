"""The power spectrum of a high-pass residual (Durall et al. 2020; Corvi et al. 2023).

The Laplacian residual of the luma plane is cut into ``tile`` x ``tile`` tiles whose power
spectra are averaged (Welch's method: one spectrum per image, with far less noise than a
single FFT). From it:

* the log-height of the spectrum at each frequency of the 8-pixel grid (k/8, l/8), relative
  to the median of its neighbours: peaks that up-sampling and block codecs leave;
* the same for whole lines of the spectrum (fx = k/8 for every fy, and the transpose);
* optionally, the azimuthally averaged log-spectrum in ``radial_bins`` bins, centred. It
  describes sharpness and content as much as generation, so it is off by default.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.detect.extractors.residuals import luma, residual
from synthmark.errors import UsageError


def _welch(plane: np.ndarray, tile: int) -> np.ndarray:
    h, w = plane.shape
    nh, nw = h // tile, w // tile
    if nh == 0 or nw == 0:
        raise UsageError(f"image of {w}x{h} px is smaller than one {tile}-px spectrum tile")
    tiles = plane[: nh * tile, : nw * tile].reshape(nh, tile, nw, tile).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(-1, tile, tile)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(tiles)) ** 2).mean(axis=0)
    return power / (power.mean() + 1e-12)


@register_extractor("spectrum")
class ResidualSpectrum(FeatureExtractor):
    """Grid peaks of the averaged power spectrum of the Laplacian residual."""

    def __init__(self, tile: int = 64, radial_bins: int = 0) -> None:
        self.tile = tile
        self.radial_bins = radial_bins


    def transform_one(self, image: Image.Image) -> Features:
        t = self.tile
        if t < 16 or t % 8:
            raise UsageError(f"spectrum tile must be a multiple of 8 and >= 16, got {t}")
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        power = _welch(residual(luma(rgb), "lap"), t)
        logp = np.log(power + 1e-10)
        feats: list[float] = []
        near = (-3, -2, 2, 3)
        for ky in range(5):
            for kx in range(ky, 5):
                if ky == kx == 0:
                    continue
                vals = []
                for a, b in ((ky, kx), (kx, ky)):
                    iy, ix = (a * t // 8) % t, (b * t // 8) % t
                    ring = [logp[(iy + d) % t, ix] for d in near] + [
                        logp[iy, (ix + d) % t] for d in near
                    ]
                    vals.append(logp[iy, ix] - float(np.median(ring)))
                feats.append(float(np.mean(vals)))
        for k in range(1, 5):
            i = k * t // 8
            for axis in (0, 1):
                line = np.log(power.mean(axis=axis) + 1e-10)
                feats.append(float(line[i % t] - np.median([line[(i + d) % t] for d in near])))
        out = np.asarray(feats, dtype=np.float32)
        if self.radial_bins > 0:
            f = np.fft.fftfreq(t)
            radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
            bins = np.minimum(
                (radius / radius.max() * self.radial_bins).astype(int), self.radial_bins - 1
            )
            sums = np.bincount(bins.ravel(), weights=logp.ravel(), minlength=self.radial_bins)
            profile = sums / np.maximum(np.bincount(bins.ravel(), minlength=self.radial_bins), 1)
            out = np.concatenate([out, (profile - profile.mean()).astype(np.float32)])
        return out


__all__ = ["ResidualSpectrum"]
