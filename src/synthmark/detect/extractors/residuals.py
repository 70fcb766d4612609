"""High-pass residuals shared by the weight-free extractors.

A residual removes the picture and keeps what cameras, codecs and generators add: the
difference between a pixel and its neighbours. All functions take a 2-D float32 plane and
return a plane of the same shape (border rows or columns are zero).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Plane = NDArray[np.float32]

#: Residuals by name.
RESIDUALS = ("lap", "dh", "dv")


def luma(rgb: NDArray[np.float32]) -> Plane:
    """ITU-R BT.601 luma of an HxWx3 array."""
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def residual(plane: Plane, kind: str) -> Plane:
    """``lap``: 4-neighbour Laplacian; ``dh``/``dv``: horizontal / vertical first difference."""
    out = np.zeros_like(plane)
    if kind == "lap":
        out[1:-1, 1:-1] = (
            4 * plane[1:-1, 1:-1]
            - plane[:-2, 1:-1]
            - plane[2:, 1:-1]
            - plane[1:-1, :-2]
            - plane[1:-1, 2:]
        )
    elif kind == "dh":
        out[:, 1:] = plane[:, 1:] - plane[:, :-1]
    elif kind == "dv":
        out[1:, :] = plane[1:, :] - plane[:-1, :]
    else:
        raise ValueError(f"unknown residual {kind!r}; known: {', '.join(RESIDUALS)}")
    return out


def planes(rgb: NDArray[np.float32], channels: str) -> list[Plane]:
    """The planes to analyse: ``rgb`` (three) or ``luma`` (one)."""
    if channels == "rgb":
        return [np.ascontiguousarray(rgb[..., c]) for c in range(3)]
    if channels == "luma":
        return [luma(rgb)]
    raise ValueError(f"unknown channels {channels!r}; known: rgb, luma")


__all__ = ["RESIDUALS", "luma", "planes", "residual"]
