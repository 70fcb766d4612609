"""The decoder's view of an image: the high-pass luminance residual, weighted by the inverse
of its local energy (:func:`residual`), through Gaussian blurs (:func:`blur`), and the
whitened power spectrum the lattice search scores (:func:`spike_spectrum`).

Texture and edges are the noise a watermark decoder fights; normalising the residual by
its local energy keeps them from dominating. :mod:`synthmark.watermark.lattice` reads the
lattice off this residual's spectrum; the tiled scheme's embedder measures the host with
the same blurs.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["blur", "residual", "spike_spectrum"]

FloatArray = NDArray[np.float32]


def blur(a: FloatArray, sigma: float) -> FloatArray:
    """``a`` blurred with a sampled Gaussian of ``sigma`` px, ``ceil(4 sigma)`` taps each
    side, reflected at the borders (as SciPy's ``gaussian_filter`` and
    :func:`~synthmark.watermark.quality.ssim` do). OpenCV's separable filter: three to four
    times faster on one thread than the same blur through an FFT of a 512 px image, and
    with no wrap-around from the opposite border."""
    import cv2  # imported here, as the other OpenCV users of the package do

    taps = 2 * math.ceil(4.0 * sigma) + 1
    out = cv2.GaussianBlur(
        np.ascontiguousarray(a, np.float32), (taps, taps), sigma, borderType=cv2.BORDER_REFLECT
    )
    return np.asarray(out, np.float32)


def residual(
    y: FloatArray, highpass_sigma: float = 3.0, power: float = 0.5
) -> tuple[FloatArray, FloatArray]:
    """High-pass luminance residual and per-pixel weights that fall with its local energy.

    Returns ``(r, w)`` with ``w = 1 / (E^power + floor^(2 power))`` for the local energy
    ``E``: with ``power = 0.5``, ``r * w`` has roughly unit local variance everywhere; a
    larger power trusts quiet regions more than busy ones (the host's own texture is the
    noise a watermark decoder fights).
    """
    y = np.asarray(y, np.float32)
    r = y - blur(y, highpass_sigma)
    r2 = r * r
    energy = blur(r2, 4.0)
    np.maximum(energy, 0.0, out=energy)
    floor = 0.5 * math.sqrt(float(np.mean(r2))) + 1e-3
    if power == 0.5:
        w = 1.0 / (np.sqrt(energy) + np.float32(floor))
    else:
        w = 1.0 / (energy ** np.float32(power) + np.float32(floor ** (2.0 * power)))
    return r, w.astype(np.float32, copy=False)


def spike_spectrum(
    rw: FloatArray, band: tuple[float, float], size: int, clip: float
) -> NDArray[np.float32]:
    """Power spectrum of ``rw`` (rfft layout) over its local average (``size x size``),
    clipped at ``clip`` and zero outside ``band`` (cycles per pixel).

    Each bin of a host image's spectrum fluctuates around the local average; the lines of a
    periodic pattern stand out as bins well above it. Clipping bounds what any single line
    (a JPEG grid, say) can contribute to a lattice score. Only the columns up to the band's
    edge are kept, with the local average's reach and a column of zeros (every column past
    them is zero): the numbers of the whole spectrum there, for less work.
    """
    h, w = rw.shape
    outside = _outside_band(h, w, band, size // 2)
    # rfft2's transforms (the rows', then the columns'), the columns past the band left out
    spec = sfft.fft(sfft.rfft(rw, axis=1)[:, : outside.shape[1]], axis=0)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    local = ndimage.uniform_filter(power, size, mode=("wrap", "nearest"))
    q = power / (local + np.float32(1e-12))
    np.minimum(q, np.float32(clip), out=q)
    q[outside] = 0.0
    return q


@lru_cache(maxsize=8)
def _outside_band(h: int, w: int, band: tuple[float, float], reach: int) -> NDArray[np.bool_]:
    """Where :func:`spike_spectrum` of an ``h x w`` residual is zero, over the columns it
    keeps, for a local average reaching ``reach`` bins (read-only; one per shape): outside
    the band, and the rows and columns of the axes (image borders, column artefacts)."""
    cols = min(w // 2 + 1, math.floor(band[1] * w) + reach + 2)
    fy = sfft.fftfreq(h).astype(np.float32)[:, None]
    fx = sfft.rfftfreq(w).astype(np.float32)[None, :cols]
    radius = np.sqrt(fx * fx + fy * fy)
    out = (radius < band[0]) | (radius > band[1])
    out[:, :2] = True
    out[:2, :] = True
    out[-1:, :] = True
    out[:, -1] = True  # the last column kept: zero, as every column past it
    out.setflags(write=False)
    return out
