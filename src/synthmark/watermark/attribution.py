"""Binding a mark to its picture: is the mark on this image the one made for it?

A valid synthmark mark proves that the key holder marked *some* image, not this one: its
high-pass pattern can be copied onto any photo (the copy attack). So at embedding a
compact description of the marked picture is stored in the registry with its serial
(:func:`describe_content`: its luminance, low-passed and sampled on a grid of cells in the
mark's working frame, about 1 KiB). A read knows where the image sits in that frame up to
a whole lattice period (:attr:`Frame`: the scale, rotation, shear, mirroring and the crop
offset modulo the period; the scheme puts it in ``Readout.details["frame"]``), so
:func:`content_match` maps the description's cells into the image read, for every lattice
translation that keeps them overlapping, and scores the normalised correlation of what it
finds there. A genuine mark, attacked or not, sits on the content it was made for; a
copied one sits on another picture.

:func:`attribute` turns that into one of the :class:`Attribution` states:

* ``bound``: the content matches the registered picture;
* ``copied``: the serial's registered picture is a different one (a forgery, or the mark
  moved onto another image);
* ``unregistered``: the serial is not in the registry (marked outside ``generate``, or
  forged);
* ``unknown``: no registry at hand, or a record without a description (registered before
  descriptions were kept), or too little of the picture left to compare.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.choices import Attribution
from synthmark.errors import UsageError

__all__ = [
    "MATCH_THRESHOLD",
    "Attribution",
    "ContentDescription",
    "Frame",
    "attribute",
    "content_match",
    "describe_content",
    "placed",
    "trimmed_correlation",
]

#: the content match from which a mark is bound (see docs/watermark.md): genuine reads
#: after the benchmark's attacks score 0.91 and more, copies onto photos 0.23 and less
MATCH_THRESHOLD = 0.5
#: the band-pass of the compared cells: minus a Gaussian low-pass of this many cells
BAND_SIGMA = 4.0
#: the share of worst-fitting cells the correlation leaves out
TRIM = 0.2
#: fewest description cells that must land inside the image for a decision
MIN_CELLS = 48
#: the translations compared cover at least this share of the cells the image holds (or
#: of the best translation's, if fewer)
MIN_COVER = 0.9
#: working-frame pixels per description cell, and the longest side of the grid in cells
_CELL = 16.0
_MAX_CELLS = 64
_MAGIC = b"SMCD"
_VERSION = 1
# magic, version, working width and height, columns, rows, cell size, lattice step
_HEADER = struct.Struct(">4sBHHHHff")
_LUMA = np.array((0.299, 0.587, 0.114), np.float32)


@dataclass(frozen=True)
class Frame:
    """Where a read image sits in the marked original's lattice: image pixel ``i``
    (column, row) is at canonical lattice-cell coordinates ``matrix @ i + offset``, up to a
    whole cell (an integer vector)."""

    matrix: NDArray[np.float64]
    offset: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``Readout.details["frame"]``)."""
        return {
            "matrix": [[round(float(v), 9) for v in row] for row in self.matrix],
            "offset": [round(float(v), 6) for v in self.offset],
        }

    @classmethod
    def from_dict(cls, value: Any) -> Frame | None:
        """The frame in a readout's details, or None if there is none or it is malformed."""
        try:
            matrix = np.array(value["matrix"], np.float64)
            offset = np.array(value["offset"], np.float64)
        except (KeyError, TypeError, ValueError):
            return None
        if matrix.shape != (2, 2) or offset.shape != (2,) or not np.isfinite(matrix).all():
            return None
        if not np.isfinite(offset).all() or abs(np.linalg.det(matrix)) < 1e-12:
            return None
        return cls(matrix, offset)


@dataclass(frozen=True)
class ContentDescription:
    """The low-passed luminance of a marked picture on a grid of cells in its working
    frame (short side 512 px, or the image's own size below that).

    Attributes:
        work_size: the working frame's (width, height) in pixels.
        cell: working pixels per cell.
        step: the lattice step of the mark there: a lattice cell is spanned by
            ``(2 step, step)`` and ``(-step, 2 step)`` working pixels.
        values: the luminance (0-255) at each cell's centre, shape (rows, columns).
    """

    work_size: tuple[int, int]
    cell: float
    step: float
    values: NDArray[np.uint8]

    def to_bytes(self) -> bytes:
        """The compact form stored in the registry."""
        rows, cols = self.values.shape
        head = _HEADER.pack(_MAGIC, _VERSION, *self.work_size, cols, rows, self.cell, self.step)
        return head + np.ascontiguousarray(self.values, np.uint8).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> ContentDescription:
        """Parse :meth:`to_bytes`.

        Raises:
            UsageError: not a content description (or a version this code does not know).
        """
        if len(data) < _HEADER.size:
            raise UsageError("not a synthmark content description (too short)")
        magic, version, ww, wh, cols, rows, cell, step = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise UsageError("not a synthmark content description (unknown header or version)")
        body = data[_HEADER.size :]
        if len(body) != rows * cols or rows < 1 or cols < 1 or not cell > 0 or not step > 0:
            raise UsageError("malformed synthmark content description")
        values = np.frombuffer(body, np.uint8).reshape(rows, cols).copy()
        return cls((ww, wh), float(cell), float(step), values)

    def centres(self) -> NDArray[np.float64]:
        """Each cell's centre in working pixels, (x, y), shape (rows * columns, 2)."""
        rows, cols = self.values.shape
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        return (pts + 0.5) * self.cell - 0.5


def _luma(image: Image.Image) -> NDArray[np.float32]:
    return np.asarray(image.convert("RGB"), np.float32) @ _LUMA


def _blur(y: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    from scipy import ndimage

    return np.asarray(ndimage.gaussian_filter(y, sigma, mode="nearest"), np.float32)


def _sample(y: NDArray[np.float32], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bilinear samples of ``y`` at points (x, y) (NaN outside the image)."""
    from scipy import ndimage

    h, w = y.shape
    x, y_ = pts[..., 0], pts[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y_ >= 0) & (y_ <= h - 1)
    coords = np.stack([pts[..., 1].ravel(), pts[..., 0].ravel()])
    vals = ndimage.map_coordinates(y, coords, order=1, mode="nearest").reshape(pts.shape[:-1])
    return np.where(inside, vals, np.nan)


def describe_content(image: Image.Image) -> bytes:
    """The compact content description of a marked image, as stored in the registry.

    Call it on the image as marked (before labels, in any lossless form); it needs no key.
    ``generate`` stores it with the serial, and so should anything else that registers a
    mark (labelling existing images, say).
    """
    from synthmark.watermark.tiled.design import TileDesign

    design = TileDesign()
    w, h = image.size
    scale = min(1.0, design.work_short / min(w, h))
    ww, wh = max(1, round(w * scale)), max(1, round(h * scale))
    work = image
    if scale < 1.0:
        work = image.resize((ww, wh), Image.Resampling.BILINEAR, reducing_gap=2.0)
    cell = max(_CELL, max(ww, wh) / _MAX_CELLS)
    cols, rows = max(1, int(ww // cell)), max(1, int(wh // cell))
    step = float(design.step_for(min(w, h)))
    # the centres form a grid, so blurring and sampling are one matrix per axis (the blur
    # of the whole image, then bilinear samples at the centres, at a tenth of the cost)
    centre = (np.arange(max(rows, cols), dtype=np.float64) + 0.5) * cell - 0.5
    y = _luma(work)
    along_y = _blur_and_sample(wh, cell / 2.0, centre[:rows])
    along_x = _blur_and_sample(ww, cell / 2.0, centre[:cols])
    vals = along_y @ y.astype(np.float64) @ along_x.T
    values = np.clip(np.rint(vals), 0, 255).astype(np.uint8)
    return ContentDescription((ww, wh), cell, step, values).to_bytes()


def _blur_and_sample(n: int, sigma: float, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """The matrix (points, n) that takes a line of ``n`` pixels to its Gaussian blur
    (scipy's ``gaussian_filter1d``, ``mode="nearest"``, as :func:`_blur`) sampled with
    linear interpolation at ``points`` (as :func:`_sample`)."""
    radius = int(4.0 * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    base = np.clip(np.floor(points).astype(np.int64), 0, n - 1)
    frac = points - base
    out = np.zeros((len(points), n))
    index = np.arange(len(points))[:, None]
    for shift, weight in ((0, 1.0 - frac), (1, frac)):
        where = np.clip(base + shift, 0, n - 1)[:, None] + taps[None, :]
        np.add.at(out, (index, np.clip(where, 0, n - 1)), weight[:, None] * kernel[None, :])
    return out


def placed(
    image: Image.Image, frame: Frame, desc: ContentDescription
) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """The image's low-passed luminance at every description cell, for each lattice
    translation that puts the image mostly on the description: shape (translations, rows,
    columns), NaN where a cell falls outside the image; and each translation's count of
    cells inside."""
    basis = desc.step * np.array([[2.0, -1.0], [1.0, 2.0]])  # canonical cell -> working px
    # working px p = basis (F i + f + n)  =>  i = F^-1 (basis^-1 p - f - n)
    # a working pixel is about px_per_work image pixels; the comparison needs about four
    # pixels per cell, so a large image is first shrunk by a whole factor (box filter):
    # pixel j of the shrunk image is pixel r j + (r - 1) / 2 of the image
    px_per_work = 1.0 / math.sqrt(abs(np.linalg.det(basis @ frame.matrix)))
    r = max(1, int(desc.cell * px_per_work / 4.0))
    if r > 1:
        image = image.reduce(r)
        frame = Frame(frame.matrix * r, frame.offset + frame.matrix @ np.full(2, (r - 1) / 2.0))
        px_per_work /= r
    cells = desc.centres() @ np.linalg.inv(basis).T - frame.offset
    y = _luma(image)
    h, w = y.shape
    y = _blur(y, max(0.5, desc.cell / 2.0 * px_per_work))
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    # cell c lands at image pixel i where F i = c - f - n (``cells`` holds c - f already)
    span = cells[:, None, :] - (corners @ frame.matrix.T)[None, :, :]
    lo, hi = np.floor(span.min(axis=(0, 1))) - 1, np.ceil(span.max(axis=(0, 1))) + 1
    ns = np.stack(
        np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij"), -1
    ).reshape(-1, 2)
    inv = np.linalg.inv(frame.matrix)
    pts = cells @ inv.T  # each cell's pixel at n = 0; n moves it by -inv n
    moves = ns @ inv.T
    x = pts[None, :, 0] - moves[:, None, 0]
    yy = pts[None, :, 1] - moves[:, None, 1]
    counts = ((x >= 0) & (x <= w - 1) & (yy >= 0) & (yy <= h - 1)).sum(axis=1)
    # A genuine read is a part of the original: (almost) all of it lies on the description,
    # so only the translations that cover nearly as many cells as the image holds are
    # candidates (those fully inside differ by a row or column of cells, by phase)
    holds = w * h / (px_per_work * desc.cell) ** 2
    keep = counts >= max(MIN_CELLS, MIN_COVER * min(float(counts.max()), holds))
    got = _sample(y, np.stack([x[keep], yy[keep]], -1))
    return got.reshape(-1, *desc.values.shape), counts[keep]


def _band(grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """``grid`` minus its Gaussian low-pass of :data:`BAND_SIGMA` cells, over its finite
    cells only (normalised convolution); NaN stays NaN. Two unrelated pictures share
    their broadest gradients (a bright sky above, say); the band keeps what tells them
    apart."""
    from scipy import ndimage

    known = np.isfinite(grid)
    weight = ndimage.gaussian_filter(known.astype(np.float64), BAND_SIGMA, mode="constant")
    total = ndimage.gaussian_filter(np.where(known, grid, 0.0), BAND_SIGMA, mode="constant")
    return np.where(known, grid - total / np.maximum(weight, 1e-9), np.nan)


def trimmed_correlation(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The normalised correlation of ``a`` and ``b`` over the cells that fit a straight
    line ``a ~ beta b`` best: the worst :data:`TRIM` share are dropped first (a logo, a
    pad or a blown-out patch should not sink a genuine match)."""
    a0, b0 = a - a.mean(), b - b.mean()
    beta = float(a0 @ b0) / max(float(b0 @ b0), 1e-12)
    misfit = np.abs(a0 - beta * b0)
    keep = misfit <= np.quantile(misfit, 1.0 - TRIM)
    a1, b1 = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    den = math.sqrt(float(a1 @ a1) * float(b1 @ b1))
    return float(a1 @ b1) / den if den > 0 else 0.0


def content_match(image: Image.Image, frame: Frame, description: bytes) -> tuple[float, int]:
    """The best match of ``description`` and ``image`` over the candidate lattice
    translations (:func:`placed`): the trimmed correlation of their band-passed cells
    (:func:`_band`, :func:`trimmed_correlation`), and how many cells it rests on
    (``(nan, 0)`` when no translation covers :data:`MIN_CELLS`)."""
    desc = ContentDescription.from_bytes(description)
    got, counts = placed(image, frame, desc)
    ref = desc.values.astype(np.float64)
    best, support = float("nan"), 0
    for grid, count in zip(got, counts, strict=True):
        mine = _band(grid)
        theirs = _band(np.where(np.isfinite(grid), ref, np.nan))
        keep = np.isfinite(mine)
        rho = trimmed_correlation(mine[keep], theirs[keep])
        if not rho <= best:
            best, support = rho, int(count)
    return best, support


def attribute(
    image: Image.Image,
    details: dict[str, Any],
    description: bytes | None,
    *,
    registry: bool,
    registered: bool,
) -> tuple[Attribution, dict[str, Any]]:
    """The attribution of a present mark, and what it rests on.

    Args:
        image: the image read.
        details: the readout's details (its ``frame``).
        description: the registered picture's description (None: none stored).
        registry: whether a registry was at hand.
        registered: whether the serial is in it (committed).
    """
    if not registry:
        return Attribution.UNKNOWN, {"why": "no registry at hand"}
    if not registered:
        return Attribution.UNREGISTERED, {"why": "the serial is not in the registry"}
    if description is None:
        return Attribution.UNKNOWN, {"why": "registered without a content description"}
    frame = Frame.from_dict(details.get("frame"))
    if frame is None:
        return Attribution.UNKNOWN, {"why": "the read gave no geometry"}
    rho, support = content_match(image, frame, description)
    info = {"content_match": None if math.isnan(rho) else round(rho, 4), "cells": support}
    if math.isnan(rho):
        return Attribution.UNKNOWN, {**info, "why": "too little of the picture to compare"}
    state = Attribution.BOUND if rho >= MATCH_THRESHOLD else Attribution.COPIED
    return state, info
