"""Attacks on a watermark's security rather than its robustness: forging it onto another
picture, and estimating it from many marked images to remove it.

* :class:`CopyAttack` (``copy[:FILTER[:STRENGTH]]``): the high-pass residual of one marked
  image (the image minus a 5x5 median filter, ``median``, or minus a Gaussian blur of
  sigma 2, ``gauss``) added at ``STRENGTH`` to an unrelated photo (Kutter et al. 2000,
  "The watermark copy attack"). A mark that survives this accuses a real photo.
* :class:`AveragingAttack` (``average:N[:PSNR]``): the high-pass residuals of ``N``
  marked images (same key, different payloads) averaged; what is common to them, the
  mark's fixed part, is subtracted from a marked image at the strength that leaves it
  ``PSNR`` dB (35 by default) from that image (Yang et al., "Can Simple Averaging Defeat
  Modern Watermarks?", NeurIPS 2024).

Both need more than the image under attack (a host photo, a set of marked images), so
they are not in :func:`~synthmark.attacks.get_attack`'s single-image registry; build them
with :func:`get_security_attack`.

>>> forged = get_security_attack("copy:median:1").apply(donor, host)       # doctest: +SKIP
>>> attack = get_security_attack("average:40")                             # doctest: +SKIP
>>> cleaned = attack.apply(marked, attack.estimate(forty_marked))          # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from synthmark.errors import UsageError

__all__ = [
    "FILTERS",
    "AveragingAttack",
    "CopyAttack",
    "get_security_attack",
    "highpass_residual",
]

#: the residual filters: the image minus a 5x5 median, or minus a Gaussian blur of sigma 2
FILTERS = ("median", "gauss")


def highpass_residual(image: Image.Image, filter: str = "median") -> NDArray[np.float32]:
    """``image`` (RGB) minus a low-pass of it: a 5x5 median (``median``) or a Gaussian
    blur of sigma 2 (``gauss``), as float32 (rows, columns, 3)."""
    rgb = image.convert("RGB")
    if filter == "median":
        low = rgb.filter(ImageFilter.MedianFilter(5))
    elif filter == "gauss":
        low = rgb.filter(ImageFilter.GaussianBlur(radius=2))
    else:
        raise UsageError(f"unknown residual filter {filter!r}; known: {', '.join(FILTERS)}")
    return np.asarray(rgb, np.float32) - np.asarray(low, np.float32)


def _to_image(pixels: NDArray[np.float32]) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


@dataclass(frozen=True)
class CopyAttack:
    """The donor's high-pass residual, times ``strength``, added to a host photo (resized
    to the host's size if the two differ)."""

    filter: str = "median"
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.filter not in FILTERS:
            raise UsageError(
                f"unknown residual filter {self.filter!r}; known: {', '.join(FILTERS)}"
            )
        if not 0.0 < self.strength <= 4.0 or not math.isfinite(self.strength):
            raise UsageError(f"copy strength must be in (0, 4], got {self.strength}")

    @property
    def name(self) -> str:
        return f"copy:{self.filter}:{self.strength:g}"

    def apply(self, donor: Image.Image, host: Image.Image) -> Image.Image:
        """The forged host."""
        residual = highpass_residual(donor, self.filter)
        host_rgb = np.asarray(host.convert("RGB"), np.float32)
        if residual.shape != host_rgb.shape:
            import cv2

            size = (host_rgb.shape[1], host_rgb.shape[0])
            residual = np.asarray(cv2.resize(residual, size), np.float32)
        return _to_image(host_rgb + np.float32(self.strength) * residual)


@dataclass(frozen=True)
class AveragingAttack:
    """Remove the part that ``n`` marked images share: their mean high-pass residual,
    subtracted at the strength that leaves the image ``psnr`` dB from what it was."""

    n: int
    psnr: float = 35.0
    filter: str = "median"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UsageError(f"averaging needs at least 1 image, got {self.n}")
        if not 10.0 <= self.psnr <= 80.0:
            raise UsageError(f"averaging PSNR must be in 10..80 dB, got {self.psnr}")
        if self.filter not in FILTERS:
            raise UsageError(
                f"unknown residual filter {self.filter!r}; known: {', '.join(FILTERS)}"
            )

    @property
    def name(self) -> str:
        return f"average:{self.n}" + ("" if self.psnr == 35.0 else f":{self.psnr:g}")

    def estimate(self, marked: Sequence[Image.Image]) -> NDArray[np.float32]:
        """The mean residual of the first ``n`` of ``marked`` (all the same size)."""
        if len(marked) < self.n:
            raise UsageError(f"{self.name} needs {self.n} marked images, got {len(marked)}")
        first, *rest = marked[: self.n]  # n >= 1: checked in __post_init__
        total = highpass_residual(first, self.filter)
        for image in rest:
            r = highpass_residual(image, self.filter)
            if r.shape != total.shape:
                raise UsageError("averaging needs marked images of one size")
            total = total + r
        return total / np.float32(self.n)

    def apply(self, image: Image.Image, pattern: NDArray[np.float32]) -> Image.Image:
        """``image`` minus ``pattern`` scaled to cost exactly :attr:`psnr` dB (before
        rounding to 8 bits)."""
        rgb = np.asarray(image.convert("RGB"), np.float32)
        if pattern.shape != rgb.shape:
            raise UsageError(
                f"the averaged pattern is {pattern.shape[1]}x{pattern.shape[0]}, the image "
                f"{rgb.shape[1]}x{rgb.shape[0]}"
            )
        power = float(np.mean(np.square(pattern)))
        if power <= 0.0:
            return image.convert("RGB").copy()
        target = 255.0**2 / 10 ** (self.psnr / 10.0)
        return _to_image(rgb - np.float32(math.sqrt(target / power)) * pattern)


def get_security_attack(name: str) -> CopyAttack | AveragingAttack:
    """``copy[:FILTER[:STRENGTH]]`` (default ``copy:median:1``) or ``average:N[:PSNR]``.

    Raises:
        UsageError: another name or a malformed parameter.
    """
    kind, *params = name.strip().split(":")
    try:
        if kind == "copy" and len(params) <= 2:
            flt = params[0] if params else "median"
            return CopyAttack(flt, float(params[1]) if len(params) > 1 else 1.0)
        if kind == "average" and 1 <= len(params) <= 2:
            psnr = float(params[1]) if len(params) > 1 else 35.0
            return AveragingAttack(int(params[0]), psnr)
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"attack {name!r}: malformed parameter ({exc})") from None
    raise UsageError(
        f"unknown security attack {name!r}; known: copy[:median|gauss[:STRENGTH]], "
        "average:N[:PSNR]"
    )
