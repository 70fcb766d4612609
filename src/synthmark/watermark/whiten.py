"""The decoder's view of an image: the high-pass luminance residual, weighted by the inverse
of its local energy (:func:`residual`), through Gaussian blurs done in the Fourier domain
(:class:`Smoother`).

Texture and edges are the noise a watermark decoder fights; normalising the residual by
its local energy keeps them from dominating. :mod:`synthmark.watermark.lattice` reads the
lattice off this residual's spectrum; the tiled scheme's embedder measures the host with
the same blurs.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

__all__ = ["Smoother", "residual"]

FloatArray = NDArray[np.float32]


class Smoother:
    """Gaussian blurs of images of one shape, through the FFT (circular at the borders)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        h, w = shape
        self.shape = shape
        fy = sfft.fftfreq(h).astype(np.float32)[:, None]
        fx = sfft.rfftfreq(w).astype(np.float32)[None, :]
        self._f2 = fx * fx + fy * fy
        self._gains: dict[float, NDArray[np.float32]] = {}

    def gain(self, sigma: float) -> NDArray[np.float32]:
        if sigma not in self._gains:
            self._gains[sigma] = np.exp(np.float32(-2.0 * math.pi**2 * sigma**2) * self._f2)
        return self._gains[sigma]

    def spectrum(self, a: FloatArray) -> NDArray[np.complex64]:
        return sfft.rfft2(np.asarray(a, np.float32))

    def blur(self, a: FloatArray, sigma: float, spectrum: NDArray | None = None) -> FloatArray:
        """``a`` blurred with a Gaussian of ``sigma`` px (pass ``spectrum`` to reuse an FFT)."""
        spec = self.spectrum(a) if spectrum is None else spectrum
        return sfft.irfft2(spec * self.gain(sigma), s=self.shape).astype(np.float32, copy=False)


def residual(
    y: FloatArray,
    highpass_sigma: float = 3.0,
    smoother: Smoother | None = None,
    spectrum: NDArray | None = None,
    power: float = 0.5,
) -> tuple[FloatArray, FloatArray]:
    """High-pass luminance residual and per-pixel weights that fall with its local energy.

    Returns ``(r, w)`` with ``w = 1 / (E^power + floor^(2 power))`` for the local energy
    ``E``: with ``power = 0.5``, ``r * w`` has roughly unit local variance everywhere; a
    larger power trusts quiet regions more than busy ones (the host's own texture is the
    noise a watermark decoder fights).
    """
    y = np.asarray(y, np.float32)
    sm = smoother or Smoother(y.shape)
    r = y - sm.blur(y, highpass_sigma, spectrum)
    r2 = r * r
    energy = sm.blur(r2, 4.0)
    np.maximum(energy, 0.0, out=energy)
    floor = 0.5 * math.sqrt(float(np.mean(r2))) + 1e-3
    if power == 0.5:
        w = 1.0 / (np.sqrt(energy) + np.float32(floor))
    else:
        w = 1.0 / (energy ** np.float32(power) + np.float32(floor ** (2.0 * power)))
    return r, w.astype(np.float32, copy=False)
