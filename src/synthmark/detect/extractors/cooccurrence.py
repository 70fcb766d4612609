"""Co-occurrences of quantised residuals (SPAM, Pevny et al. 2010; Nataraj et al. 2019).

First- and second-order differences of each colour plane are rounded to ``step`` and
truncated to [-T, T]; the joint histogram of three neighbours along a row (and, transposed,
along a column) is a texture fingerprint of the processing chain. A third histogram counts
the joint values of the R, G and B differences at one pixel (colour filter arrays and
generators correlate the planes differently).

These statistics describe texture: on the data this package ships with they follow the
subject (portraits, paintings, landscapes) more than the generator. They are registered for
experiments and for data sets where content is matched, not used by the default model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.errors import UsageError


def _triples(d: np.ndarray, step: float, t: int) -> np.ndarray:
    b = 2 * t + 1
    q = (np.clip(np.rint(d / step), -t, t).astype(np.int16) + t).astype(np.int32)
    code = (q[:, :-2] * b + q[:, 1:-1]) * b + q[:, 2:]
    return np.bincount(code.ravel(), minlength=b**3).astype(np.float64)


@register_extractor("cooccurrence")
class ResidualCooccurrence(FeatureExtractor):
    """Joint histograms of truncated residuals (SPAM-style), plus a cross-colour histogram."""

    def __init__(self, truncation: int = 2, step: float = 1.0) -> None:
        self.truncation = truncation
        self.step = step


    def transform_one(self, image: Image.Image) -> Features:
        t, step = self.truncation, self.step
        if not 1 <= t <= 4 or step <= 0:
            raise UsageError(f"need 1 <= truncation <= 4 and step > 0, got {t}, {step}")
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        b = 2 * t + 1
        first = np.zeros(b**3)
        second = np.zeros(b**3)
        for c in range(3):
            x = rgb[..., c]
            for plane in (x, x.T):
                first += _triples(plane[:, 1:] - plane[:, :-1], step, t)
                second += _triples(plane[:, :-2] - 2 * plane[:, 1:-1] + plane[:, 2:], 2 * step, t)
        colour = np.zeros(b**3)
        for d in (rgb[:, 1:, :] - rgb[:, :-1, :], rgb[1:, :, :] - rgb[:-1, :, :]):
            q = np.clip(np.rint(d / step), -t, t).astype(np.int32) + t
            code = (q[..., 0] * b + q[..., 1]) * b + q[..., 2]
            colour += np.bincount(code.ravel(), minlength=b**3)
        parts = [h / max(h.sum(), 1.0) for h in (first, second, colour)]
        return np.concatenate(parts).astype(np.float32)


__all__ = ["ResidualCooccurrence"]
