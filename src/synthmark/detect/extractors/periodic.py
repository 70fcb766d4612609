"""Periodic residual patterns, measured so that a crop or a rescale does not hide them.

A latent-diffusion decoder up-samples by 8, and leaves a faint pattern of period 8 in the
residual (see :mod:`synthmark.detect.extractors.grid`). Two everyday edits move it:

* a crop by an offset that is not a multiple of 8 shifts its phase;
* a resize by ``s`` changes its period to ``8 * s`` (4 after halving the size).

This extractor keeps only what survives a shift, at several periods. For each residual
(Laplacian, horizontal and vertical differences) of each plane, and for its magnitude, it
folds the residual onto its position modulo ``p`` and takes the 2-D DFT of the ``p x p``
mean pattern. That DFT equals the image's own DFT at the harmonics ``(k/p, l/p)``, so:

* **magnitudes** ``|X(k, l)|`` (one per harmonic, up to conjugate symmetry) do not change
  when the image is shifted: the strength of each harmonic of the pattern, wherever its
  phase;
* **cross-spectra** between the R, G and B planes, ``X_R conj(X_G)`` and ``X_G conj(X_B)``
  (real and imaginary parts), do not change either: whether the pattern is the same in the
  three planes, as a decoder writes it, and how its phase differs between them.

Each value is scaled so that on a residual without periodic pattern it is about unit
size whatever the image's size, then passed through ``log1p`` (the strength of a
pattern spans orders of magnitude). The periods default to 8, 6 and 4: the decoder's, and
its copies after a resize by 0.75 and by 0.5; a head trained with resize augmentation
learns which one to trust.

JPEG blocks live on the same 8-pixel grid; the detector re-encodes every image alike
first (see :mod:`synthmark.detect.preprocess`), so both classes carry them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.detect.extractors.residuals import RESIDUALS, planes, residual
from synthmark.errors import UsageError


def _half_plane(p: int) -> list[tuple[int, int]]:
    """Harmonics ``(k, l)`` of a ``p x p`` DFT, one of each conjugate pair, DC left out."""
    keep = []
    for k in range(p):
        for m in range(p):
            if (k, m) == (0, 0):
                continue
            mirror = ((-k) % p, (-m) % p)
            if (k, m) <= mirror:
                keep.append((k, m))
    return keep


@register_extractor("periodic")
class PeriodicResidualFeatures(FeatureExtractor):
    """Shift-invariant strength of periodic residual patterns at the up-sampling period and its
    rescaled copies (8, 6, 4 px)."""

    def __init__(
        self,
        periods: tuple[int, ...] | list[int] = (8, 6, 4),
        channels: str = "rgb",
        residuals: tuple[str, ...] | list[str] = RESIDUALS,
        magnitude: bool = True,
        cross: bool = True,
    ) -> None:
        self.periods = periods
        self.channels = channels
        self.residuals = residuals
        self.magnitude = magnitude
        self.cross = cross


    def _check(self) -> None:
        if not self.periods or any(int(p) != p or p < 2 for p in self.periods):
            raise UsageError(f"periods must be integers >= 2, got {list(self.periods)}")
        bad = [r for r in self.residuals if r not in RESIDUALS]
        if bad or not self.residuals:
            raise UsageError(f"unknown residual {bad}; known: {', '.join(RESIDUALS)}")
        if self.channels not in ("rgb", "luma"):
            raise UsageError(f"channels must be 'rgb' or 'luma', got {self.channels!r}")
        if self.cross and self.channels != "rgb":
            raise UsageError("cross=True compares the R, G and B planes: it needs channels='rgb'")

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        n_planes = 3 if self.channels == "rgb" else 1
        n_signals = n_planes * len(self.residuals) * (1 + int(self.magnitude))
        per_signal = sum(len(_half_plane(int(p))) for p in self.periods)
        n_cross = 2 * 2 * len(self.residuals) * (1 + int(self.magnitude)) if self.cross else 0
        return n_signals * per_signal + n_cross * per_signal

    def transform_one(self, image: Image.Image) -> Features:
        self._check()
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        h, w = rgb.shape[:2]
        pmax = max(int(p) for p in self.periods)
        if h < 2 * pmax or w < 2 * pmax:
            raise UsageError(f"image of {w}x{h} px is too small for periodic features")
        # signals[kind][plane]: normalised residuals (and their magnitudes) of each plane.
        signals: list[list[NDArray[np.floating]]] = []
        for kind in self.residuals:
            signed: list[NDArray[np.floating]] = []
            mags: list[NDArray[np.floating]] = []
            for plane in planes(rgb, self.channels):
                r = residual(plane, kind)
                signed.append(r / (float(np.sqrt(np.mean(r * r))) + 1e-6))
                m = np.abs(r)
                mags.append(m / (float(m.mean()) + 1e-6) - 1.0)
            signals.append(signed)
            if self.magnitude:
                signals.append(mags)
        out: list[NDArray[np.float64]] = []
        for p in (int(q) for q in self.periods):
            hp, wp = h - h % p, w - w % p
            scale = np.sqrt((hp // p) * (wp // p)) / p
            idx = tuple(np.array(_half_plane(p)).T)
            crosses: list[NDArray[np.float64]] = []
            for group in signals:
                spectra = []
                for s in group:
                    folded = s[:hp, :wp].reshape(hp // p, p, wp // p, p).mean(axis=(0, 2))
                    spectra.append(np.fft.fft2(folded.astype(np.float64))[idx] * scale)
                out.extend(np.log1p(np.abs(x)) for x in spectra)
                if self.cross:
                    for a, b in ((0, 1), (1, 2)):
                        c = spectra[a] * np.conj(spectra[b])
                        # signed log keeps the sign of the real and imaginary parts
                        crosses.append(np.sign(c.real) * np.log1p(np.abs(c.real)))
                        crosses.append(np.sign(c.imag) * np.log1p(np.abs(c.imag)))
            out.extend(crosses)
        return np.concatenate(out).astype(np.float32)


__all__ = ["PeriodicResidualFeatures"]
