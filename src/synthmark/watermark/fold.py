"""Fold an image onto one period of a lattice: the weighted mean of a residual over each
bin of the lattice cell (:func:`fold`), for many lattices of one residual (:class:`Folder`).

Pixel ``p`` (relative to the image centre) lands in cell coordinates ``u = V^-1 p`` modulo
1 for the lattice basis ``V``; nothing is resampled. The lattice search that finds ``V``
is :mod:`synthmark.watermark.lattice`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["Folder", "fold"]

FloatArray = NDArray[np.float32]


class Folder:
    """Folds one weighted residual onto the cells of many lattices (:func:`fold`), reusing
    what does not depend on the lattice: the weights as float64 (what ``np.bincount``
    works in) and the pixel-sized buffers. Not thread-safe: one per read.

    Args:
        rw: the residual times its weights.
        w: the weights.
        grid: bins per cell side, a power of two.
    """

    def __init__(self, rw: FloatArray, w: FloatArray, grid: int) -> None:
        if grid & (grid - 1):
            raise ValueError(f"grid must be a power of two, got {grid}")
        self.grid = grid
        self._num_w = np.asarray(rw, np.float64).ravel()
        self._den_w = np.asarray(w, np.float64).ravel()
        h, wd = rw.shape
        self._xs = np.arange(wd, dtype=np.float32) - np.float32(wd / 2)
        self._ys = (np.arange(h, dtype=np.float32) - np.float32(h / 2))[:, None]
        self._coord = np.empty(rw.shape, np.float32)
        self._bin = np.empty(rw.shape, np.int32)
        self._bin2 = np.empty(rw.shape, np.int32)
        self._flat = np.empty(rw.size, np.intp)  # what np.bincount indexes with

    def __call__(self, basis: NDArray[np.float64]) -> NDArray[np.float64]:
        """The weighted mean of the residual over each bin of ``basis``'s cell."""
        g = self.grid
        inv = np.linalg.inv(basis).astype(np.float32) * np.float32(g)
        coord, bins, second = self._coord, self._bin, self._bin2
        mask = g - 1
        # bin = (floor(u) & mask) * g + (floor(v) & mask), in place
        np.multiply(self._ys, inv[0, 1], out=coord)
        coord += self._xs * inv[0, 0]
        np.floor(coord, out=coord)
        np.copyto(bins, coord, casting="unsafe")
        bins &= mask
        bins *= g
        np.multiply(self._ys, inv[1, 1], out=coord)
        coord += self._xs * inv[1, 0]
        np.floor(coord, out=coord)
        np.copyto(second, coord, casting="unsafe")
        second &= mask
        bins += second
        flat = self._flat
        np.copyto(flat, bins.ravel())
        num = np.bincount(flat, self._num_w, g * g)
        den = np.bincount(flat, self._den_w, g * g)
        filled = den > 0
        tile = np.zeros(g * g)
        tile[filled] = num[filled] / den[filled]
        tile[filled] -= tile[filled].mean()
        return tile.reshape(g, g)


def fold(
    rw: FloatArray, w: FloatArray, basis: NDArray[np.float64], grid: int
) -> NDArray[np.float64]:
    """Weighted mean of a residual over each of ``grid x grid`` bins of the lattice cell.

    ``rw`` is the residual times its weights ``w``. Pixel ``p`` (relative to the image
    centre) lands in cell coordinates ``u = basis^-1 p`` modulo 1. Empty bins are set to
    the mean, so they carry no information. ``grid`` must be a power of two. To fold one
    residual onto many lattices, a :class:`Folder` is faster.
    """
    return Folder(rw, w, grid)(basis)
