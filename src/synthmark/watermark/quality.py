"""Image quality of a mark: PSNR and SSIM against the original (8-bit RGB).

SSIM follows Wang et al. (2004) as most watermark papers compute it: a Gaussian window of
sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, data range 255, each RGB channel separately, then
the mean; a 5-pixel border is left out where the window would leave the image.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["psnr", "ssim"]


def _pair(a: Image.Image, b: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    if a.size != b.size:
        raise ValueError(f"images differ in size: {a.size} and {b.size}")
    return (np.asarray(a.convert("RGB"), np.float64), np.asarray(b.convert("RGB"), np.float64))


def psnr(original: Image.Image, marked: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over all RGB values (``inf`` for identical images)."""
    x, y = _pair(original, marked)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(original: Image.Image, marked: Image.Image) -> float:
    """Mean structural similarity over the three RGB channels."""
    x, y = _pair(original, marked)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for ch in range(3):
        a, b = x[..., ch], y[..., ch]

        def blur(z: np.ndarray) -> np.ndarray:
            return ndimage.gaussian_filter(z, 1.5, truncate=3.5)

        ma, mb = blur(a), blur(b)
        saa = blur(a * a) - ma * ma
        sbb = blur(b * b) - mb * mb
        sab = blur(a * b) - ma * mb
        s = ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (saa + sbb + c2))
        values.append(float(s[5:-5, 5:-5].mean()))
    return float(np.mean(values))
