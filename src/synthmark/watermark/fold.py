"""Fold an image onto one period of a lattice: the weighted mean of a residual over each
bin of the lattice cell (:func:`fold`), for many lattices of one residual (:class:`Folder`).

Pixel ``p`` (relative to the image centre) lands in cell coordinates ``u = V^-1 p`` modulo
1 for the lattice basis ``V``; nothing is resampled. The lattice search that finds ``V``
is :mod:`synthmark.watermark.lattice`.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numpy.typing import NDArray

__all__ = ["FoldBuffers", "Folder", "fold"]

FloatArray = NDArray[np.float32]


class FoldBuffers(threading.local):
    """The pixel-sized arrays that the folds of one thread reuse from read to read: fresh
    pages cost a fault each, about 3 ms of a 512 px read for the 9 MB a fold needs. The
    scratch arrays of the last shape folded, and the float64 weights of the last residual
    (reused as they are when the same arrays are folded again). One per thread, as
    ``threading.local``: a thread folds for one read at a time."""

    def __init__(self) -> None:
        self._scratch: tuple[NDArray, NDArray, NDArray, NDArray] | None = None
        #: the last residual and weights converted, and their float64 copies
        self._last: tuple[FloatArray, FloatArray, NDArray, NDArray] | None = None

    def scratch(self, shape: tuple[int, int]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """Float32 coordinates, two int32 bin arrays and the flat intp index, of ``shape``."""
        if self._scratch is None or self._scratch[0].shape != shape:
            n = shape[0] * shape[1]
            self._scratch = (
                np.empty(shape, np.float32),
                np.empty(shape, np.int32),
                np.empty(shape, np.int32),
                np.empty(n, np.intp),
            )
        return self._scratch

    def weights(
        self, rw: FloatArray, w: FloatArray
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``rw`` and ``w`` as flat float64 arrays (as converted last time, if they are the
        very arrays converted last time: a read never changes its residual)."""
        last = self._last
        if last is not None and last[0] is rw and last[1] is w:
            return last[2], last[3]
        if last is not None and last[2].size == rw.size:
            num, den = last[2], last[3]
        else:
            num, den = np.empty(rw.size), np.empty(rw.size)
        np.copyto(num, rw.ravel())
        np.copyto(den, w.ravel())
        self._last = (rw, w, num, den)
        return num, den


class Folder:
    """Folds one weighted residual onto the cells of many lattices (:func:`fold`), reusing
    what does not depend on the lattice: the weights as float64 (what ``np.bincount``
    works in) and the pixel-sized buffers (from ``buffers``, when given). Not
    thread-safe: one per read.

    Args:
        rw: the residual times its weights.
        w: the weights.
        grid: bins per cell side, a power of two.
        buffers: this thread's :class:`FoldBuffers`, to reuse its arrays.
    """

    def __init__(
        self, rw: FloatArray, w: FloatArray, grid: int, buffers: FoldBuffers | None = None
    ) -> None:
        if grid & (grid - 1):
            raise ValueError(f"grid must be a power of two, got {grid}")
        self.grid = grid
        buffers = buffers or FoldBuffers()
        self._num_w, self._den_w = buffers.weights(rw, w)
        h, wd = rw.shape
        self._xs = np.arange(wd, dtype=np.float32) - np.float32(wd / 2)
        self._ys = (np.arange(h, dtype=np.float32) - np.float32(h / 2))[:, None]
        # float32 coordinates, int32 bins and the intp index np.bincount reads
        self._coord, self._bin, self._bin2, self._flat = buffers.scratch((h, wd))
        self._shape = (h, wd)
        #: the weighted residual and the weights summed over n x n blocks, by n
        self._wrapped: dict[int, tuple[NDArray, NDArray]] = {}

    def __call__(self, basis: NDArray[np.float64]) -> NDArray[np.float64]:
        """The weighted mean of the residual over each bin of ``basis``'s cell."""
        periodic = _integer_lattice(basis)
        if periodic is not None and periodic[1] ** 2 * 2 <= self._shape[0] * self._shape[1]:
            num, den = self._periodic_sums(*periodic)
        else:
            num, den = self._sums(basis)
        filled = den > 0
        tile = np.zeros(self.grid * self.grid)
        tile[filled] = num[filled] / den[filled]
        tile[filled] -= tile[filled].mean()
        return tile.reshape(self.grid, self.grid)

    def _sums(self, basis: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """The residual's and the weights' sums over each bin of ``basis``'s cell."""
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
        return np.bincount(flat, self._num_w, g * g), np.bincount(flat, self._den_w, g * g)

    def _periodic_sums(self, lattice: NDArray[np.int64], n: int) -> tuple[NDArray, NDArray]:
        """:meth:`_sums` of an integer ``lattice`` (basis), whose bins repeat every ``n``
        pixels along both axes: the residual and the weights summed over the ``n x n``
        blocks first (a fraction of the pixels to bin), each pixel's bin exact (integer
        arithmetic: a pixel on a bin's edge goes to the bin it starts)."""
        if n not in self._wrapped:
            sums = (_wrap(self._num_w, self._shape, n), _wrap(self._den_w, self._shape, n))
            self._wrapped[n] = sums
        num, den = self._wrapped[n]
        g = self.grid
        h, w = self._shape
        adj = np.array([[lattice[1, 1], -lattice[0, 1]], [-lattice[1, 0], lattice[0, 0]]])
        det2 = 2 * int(lattice[0, 0] * lattice[1, 1] - lattice[0, 1] * lattice[1, 0])
        # twice the pixel's position from the image centre, as Folder's coordinates
        x2 = 2 * np.arange(n, dtype=np.int64)[None, :] - w
        y2 = 2 * np.arange(n, dtype=np.int64)[:, None] - h
        u = (g * (adj[0, 0] * x2 + adj[0, 1] * y2)) // det2 & (g - 1)
        v = (g * (adj[1, 0] * x2 + adj[1, 1] * y2)) // det2 & (g - 1)
        flat = (u * g + v).ravel()
        return np.bincount(flat, num, g * g), np.bincount(flat, den, g * g)


def _integer_lattice(basis: NDArray[np.float64]) -> tuple[NDArray[np.int64], int] | None:
    """An integer basis within 1e-9 of ``basis`` and the smallest ``n`` whose multiples
    along both axes are in its lattice (``n B^-1`` integer), or None."""
    whole = np.rint(basis)
    if np.abs(basis - whole).max() > 1e-9:
        return None
    m = whole.astype(np.int64)
    det = abs(int(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]))
    if det == 0:
        return None
    common = math.gcd(*(abs(int(e)) for e in m.ravel()))  # the adjugate's entries' gcd
    return m, det // math.gcd(det, common)


def _wrap(flat: NDArray[np.float64], shape: tuple[int, int], n: int) -> NDArray[np.float64]:
    """The ``shape`` array ``flat`` summed over its ``n x n`` blocks (the last ones
    partial), block by block, flattened."""
    a = flat.reshape(shape)
    out = np.zeros((n, n))
    for top in range(0, shape[0], n):
        for left in range(0, shape[1], n):
            block = a[top : top + n, left : left + n]
            out[: block.shape[0], : block.shape[1]] += block
    return out.ravel()


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
