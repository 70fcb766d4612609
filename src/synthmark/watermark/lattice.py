"""Geometry of a periodic watermark: find its lattice in an image and fold the image onto
one period.

A pattern that repeats on a square lattice of period ``P`` at angle ``t`` puts all its
energy on spectral lines at ``R(t) k / P`` for the integer cell frequencies ``k`` it uses,
whatever crop it went through; a scale or rotation of the image scales or turns the same
set. :func:`find_lattices` scores candidate lattices by the image's whitened spectrum summed
over those predicted lines: the nominal lattice (no geometric change), scans of the angle at
the nominal period (rotation) and of the period at the nominal angle (crop, resize), and a
log-polar (Fourier-Mellin) correlation over every period and angle, each refined by a local
search. :func:`~synthmark.watermark.fold.fold` then averages every pixel into one
``G x G`` cell in lattice coordinates (``u = V^-1 p``), without resampling the image.
What is left unknown is a symmetry of the square lattice (one of eight) and a cyclic
shift inside the cell; the scheme that owns the pattern resolves those with its keyed
synchronisation lines.

The host image is suppressed twice before the spectrum is scored: a high-pass residual is
normalised by its local energy (so that edges and texture do not dominate;
:mod:`~synthmark.watermark.whiten`), and its power
spectrum is divided by a local average and clipped, which keeps the sharp lines of a
periodic pattern and bounds the weight of any single periodic artefact (a JPEG grid, say).
Nothing here depends on a key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray
from scipy import ndimage

from synthmark.watermark.whiten import spike_spectrum

__all__ = [
    "Lattice",
    "LatticeSearch",
    "LineScorer",
    "find_lattices",
    "global_peaks",
    "line_frequencies",
    "line_scorer",
    "nominal_lattices",
    "vertex",
]

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class LatticeSearch:
    """Parameters of the lattice search, in decode-space pixels."""

    min_period: float = 40.0
    max_period_fraction: float = 0.45
    max_period: float = 240.0
    band_low: float = 0.012
    band_high: float = 0.27
    whiten_size: int = 9
    clip: float = 12.0
    n_global: int = 2
    #: separated peaks of each rotation or period scan that are ranked by the fine score
    #: (the best three are refined; the best refined one is the scan's candidate): the
    #: coarse scan is noisy, and with only 3 peaks the true period of a weak mark after a
    #: crop was often not among them
    scan_peaks: int = 8
    max_rotation: float = 12.0
    #: lines at lower cell frequencies are left out of lattice scores: there the host is
    #: strongest and the embedder's host cancellation leaves dips rather than peaks
    min_line_radius: float = 10.0
    nominal_angles: tuple[float, ...] = (
        math.degrees(math.atan2(1, 2)),
        math.degrees(math.atan2(2, 1)),
    )

    def max_candidates(self, n_nominal_periods: int) -> int:
        """How many lattices :func:`find_lattices` can return (for a union bound)."""
        n_angles = len(self.nominal_angles)
        return n_nominal_periods * n_angles + n_nominal_periods + n_angles + self.n_global


@dataclass(frozen=True)
class Lattice:
    """A lattice estimate: ``basis`` columns are the two lattice vectors (x, y) in pixels."""

    basis: NDArray[np.float64]
    score: float

    @property
    def period(self) -> float:
        """Mean length of the two basis vectors."""
        return float(np.mean(np.hypot(self.basis[0], self.basis[1])))

    @property
    def angle(self) -> float:
        """Angle of the first basis vector in degrees."""
        return float(math.degrees(math.atan2(self.basis[1, 0], self.basis[0, 0])))

    @classmethod
    def square(cls, period: float, angle: float, score: float = 0.0) -> Lattice:
        """The square lattice of ``period`` pixels turned by ``angle`` radians."""
        c, s = math.cos(angle), math.sin(angle)
        return cls(basis=period * np.array([[c, -s], [s, c]]), score=score)


def nominal_lattices(
    nominal_periods: Sequence[float], search: LatticeSearch, scorer: LineScorer | None = None
) -> list[Lattice]:
    """The lattices of an image as marked (each nominal period at each nominal angle): the
    first candidates of :func:`find_lattices`, in its order; with ``scorer``, with its score."""
    return [Lattice.square(*found) for found in _nominal(nominal_periods, search, scorer)]


def _nominal(
    nominal_periods: Sequence[float], search: LatticeSearch, scorer: LineScorer | None
) -> list[tuple[float, float, float]]:
    """(period, angle in radians, fine score; 0 without ``scorer``) of each nominal lattice."""
    at = [(p, math.radians(a)) for p in nominal_periods for a in search.nominal_angles]
    if scorer is None:
        return [(p, t, 0.0) for p, t in at]
    return [(p, t, float(scorer.fine(np.array([p]), np.array([t]))[0])) for p, t in at]


def vertex(lo: float, mid: float, hi: float) -> float:
    """Offset of the vertex of the parabola through three equally spaced samples, from the
    middle one (0 when they do not make a peak): a sub-sample peak position."""
    den = lo - 2 * mid + hi
    return 0.5 * (lo - hi) / den if den < 0 else 0.0


def line_frequencies(
    lines: NDArray, periods: NDArray, angles: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Where square lattices of period ``P`` at angle ``t`` (radians) put each cell
    frequency ``k``: ``R(t) k / P`` cycles per pixel, as ``(fx, fy, sign)`` of shape
    (lattices, lines). The spectrum of a real image is Hermitian, so lines are folded onto
    ``fx >= 0`` (the half an rfft keeps); ``sign`` is -1 where one was folded, and the
    spectrum's value at the unfolded line is the conjugate there."""
    lines = np.asarray(lines, np.float64)
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    inv = (1.0 / np.asarray(periods, np.float64))[:, None]
    k1, k2 = lines[None, :, 0], lines[None, :, 1]
    fx = (c * k1 - s * k2) * inv
    fy = (s * k1 + c * k2) * inv
    sign = np.where(fx < 0, -1.0, 1.0)
    return fx * sign, fy * sign, sign


class LineScorer:
    """Scores lattices by the sum of the spike spectrum at their predicted lines: square
    ones by period and angle, any other by its reciprocal basis (:meth:`fine_reciprocal`)."""

    def __init__(self, q: NDArray[np.float32], shape: tuple[int, int], lines: NDArray) -> None:
        self.q = q
        self.h, self.w = shape
        # q with its first row repeated below the last (the vertical frequency wraps) and
        # its last column repeated (the horizontal one ends there), flattened: a bilinear
        # read is then four gathers at fixed offsets, with no index arithmetic per corner
        hq, wq = q.shape
        padded = np.empty((hq + 1, wq + 1), q.dtype)
        padded[:hq, :wq] = q
        padded[hq, :wq] = q[0]
        padded[:, wq] = padded[:, wq - 1]
        self._q_flat = padded.ravel()
        self._stride = wq + 1
        self.lines = np.asarray(lines, np.float64)
        self._k1 = self.lines[None, :, 0].copy()
        self._k2 = self.lines[None, :, 1].copy()
        positive = q[q > 0]
        self.mean = float(positive.mean()) if positive.size else 1.0
        #: the log-polar peaks found so far (:func:`global_peaks`), by search
        self.peaks: dict[tuple[LatticeSearch, bool], list[tuple[float, float]]] = {}

    @cached_property
    def q_max(self) -> NDArray[np.float32]:
        """``q`` 3x3-max-filtered, for the coarse scores (made only when first needed)."""
        return np.asarray(ndimage.maximum_filter(self.q, 3, mode=("wrap", "nearest")))

    def _coords(
        self, periods: NDArray, angles: NDArray, dtype: type = np.float64
    ) -> tuple[NDArray, NDArray]:
        """(row, column) bins of the lines, shape ``broadcast(periods, angles) + (lines,)``:
        :func:`line_frequencies` in bins, rows modulo the height, in fewer passes. The
        lines are turned and folded at the angles' shape (for a grid of periods by angles,
        a fraction of the result's), then divided by the periods in ``dtype`` (float32 for
        the bilinear scores: a bin to 1e-4 or better, in half the memory)."""
        c = np.cos(angles)[..., None]
        s = np.sin(angles)[..., None]
        inv = (1.0 / np.asarray(periods, np.float64))[..., None]
        k1, k2 = self._k1, self._k2
        tx = c * k1
        tx -= s * k2
        ty = s * k1
        ty += c * k2
        # fold onto fx >= 0 (line_frequencies' sign: fx = tx / P has the sign of tx), then
        # rows modulo h (|fy| < 1 here): h added where fy < 0, 0 elsewhere
        np.negative(ty, out=ty, where=tx < 0)
        np.abs(tx, out=tx)
        h, w = dtype(self.h), dtype(self.w)
        wrap = np.where(ty < 0, h, dtype(0.0))
        inv = inv.astype(dtype, copy=False)
        fy = ty.astype(dtype, copy=False) * inv
        fy *= h
        fy += wrap
        fx = tx.astype(dtype, copy=False) * inv
        fx *= w
        return fy, fx

    def coarse(self, periods: NDArray, angles: NDArray) -> NDArray[np.float64]:
        """Nearest-bin scores on the 3x3-max-filtered spectrum (tolerates ~1 bin error)."""
        y, x = self._coords(periods, angles)
        i = np.rint(y, out=y).astype(np.intp)
        i[i >= self.h] -= self.h  # a row of exactly h (y is in [0, h])
        width = self.q.shape[1]
        i *= width
        i += np.minimum(np.rint(x, out=x).astype(np.intp), width - 1)
        return self.q_max.ravel().take(i).sum(axis=-1) / (len(self.lines) * self.mean)

    def fine(self, periods: NDArray, angles: NDArray) -> NDArray[np.float64]:
        """Bilinear scores on the spectrum itself."""
        return self._bilinear(*self._coords(periods, angles, np.float32))

    def fine_reciprocal(self, recips: NDArray) -> NDArray[np.float64]:
        """Bilinear scores of lattices given by reciprocal bases ``G`` (shape (n, 2, 2)):
        cell frequency ``k`` sits at ``G k`` = (fx, fy) cycles per pixel, ``G = B^-T`` for
        the lattice basis ``B``."""
        return self._bilinear(*self._reciprocal_coords(recips))

    def _reciprocal_coords(self, recips: NDArray) -> tuple[NDArray, NDArray]:
        g = np.asarray(recips, np.float64)
        k1, k2 = self.lines[None, :, 0], self.lines[None, :, 1]
        fx = g[:, 0, 0, None] * k1 + g[:, 0, 1, None] * k2
        fy = g[:, 1, 0, None] * k1 + g[:, 1, 1, None] * k2
        sign = np.where(fx < 0, -1.0, 1.0)
        return (fy * sign * self.h) % self.h, fx * sign * self.w

    def _bilinear(self, y: NDArray, x: NDArray) -> NDArray[np.float64]:
        """Sum over the last axis of the spectrum read bilinearly at (y, x) bins,
        normalised."""
        y0, x0 = np.floor(y), np.floor(x)
        i = y0.astype(np.intp)
        i[i >= self.h] -= self.h  # a row bin of exactly h (y is in [0, h])
        i *= self._stride
        col = x0.astype(np.intp)
        np.minimum(col, self._stride - 2, out=col)  # x <= width / 2: no-op
        i += col
        fy, fx = np.subtract(y, y0, out=y0), np.subtract(x, x0, out=x0)
        q, down = self._q_flat, self._stride
        gx = np.float32(1) - fx
        top = gx * q.take(i)
        i += 1
        top += fx * q.take(i)
        i += down
        bottom = fx * q.take(i)
        i -= 1
        bottom = gx * q.take(i) + bottom
        top *= np.float32(1) - fy
        top += fy * bottom
        return top.sum(axis=-1, dtype=np.float64) / (len(self.lines) * self.mean)

    def refine_many(self, periods: NDArray, angles: NDArray) -> list[tuple[float, float, float]]:
        """Local searches of period and angle maximising the fine score, from each of
        several starting points at once (one scoring call per step for all of them)."""
        span_p, span_a = 0.012, math.radians(0.6)
        p = np.asarray(periods, np.float64).copy()
        t = np.asarray(angles, np.float64).copy()
        best = self.fine(p, t)
        offsets = np.linspace(-1.0, 1.0, 7)
        rows = np.arange(len(p))
        for _ in range(3):
            # a 7 x 7 grid of periods by angles around each point (period-major)
            grid_p = p[:, None] * (1.0 + span_p * offsets[None, :])
            grid_t = t[:, None] + span_a * offsets[None, :]
            coords = self._coords(grid_p[:, :, None], grid_t[:, None, :], np.float32)
            scores = self._bilinear(*coords).reshape(len(p), -1)
            i = np.argmax(scores, axis=1)
            better = scores[rows, i] > best
            p = np.where(better, grid_p[rows, i // len(offsets)], p)
            t = np.where(better, grid_t[rows, i % len(offsets)], t)
            best = np.where(better, scores[rows, i], best)
            span_p /= 3.0
            span_a /= 3.0
        return [(float(a), float(b), float(c)) for a, b, c in zip(p, t, best, strict=True)]


#: the log-polar grid: angles over half a turn, log-radii over the search's band
_N_PHI, _N_RHO = 360, 256


@dataclass(frozen=True)
class _LogPolar:
    """Where each log-polar bin reads the (flattened) spectrum, and the lines' template,
    transformed."""

    at: NDArray[np.intp]
    template: NDArray[np.complex128]
    size: int
    step: float
    k_lo: float


def _log_polar(scorer: LineScorer, search: LatticeSearch) -> _LogPolar:
    """The :class:`_LogPolar` of ``scorer``'s shape and lines under ``search``."""
    key = scorer.lines.tobytes()
    return _log_polar_plan(scorer.h, scorer.w, scorer.q.shape[1], key, search)


@lru_cache(maxsize=8)
def _log_polar_plan(
    h: int, w: int, width: int, lines: bytes, search: LatticeSearch
) -> _LogPolar:
    """The :class:`_LogPolar` of an ``h x w`` residual's spectrum, ``width`` columns kept,
    for the lines (float64 pairs, as bytes): one per shape, reused from read to read."""
    n_phi, n_rho = _N_PHI, _N_RHO
    f_lo, f_hi = search.band_low, search.band_high
    step = math.log(f_hi / f_lo) / (n_rho - 1)
    rho = math.log(f_lo) + step * np.arange(n_rho)
    phi = np.pi * (np.arange(n_phi) / n_phi - 0.5)
    fr = np.exp(rho)[:, None]
    fx = fr * np.cos(phi)[None, :]
    fy = fr * np.sin(phi)[None, :]
    iy = np.rint(fy * h).astype(np.intp) % h
    ix = np.rint(fx * w).astype(np.intp)
    k = np.frombuffer(lines, np.float64).reshape(-1, 2)
    allk = np.concatenate([k, -k])
    k_rad = np.hypot(allk[:, 0], allk[:, 1])
    k_lo = float(k_rad.min())
    t_rho = np.rint((np.log(k_rad) - math.log(k_lo)) / step).astype(np.intp)
    ang = np.arctan2(allk[:, 1], allk[:, 0])
    t_phi = np.rint(((ang / np.pi + 0.5) % 1.0) * n_phi).astype(np.intp) % n_phi
    n_t = int(t_rho.max()) + 1
    template = np.zeros((n_t, n_phi))
    np.add.at(template, (t_rho, t_phi), 1.0)
    # a linear correlation needs n_rho + n_t - 1 rows; a length of small prime factors
    # is faster (the rows past it hold periods under the shortest searched)
    size = sfft.next_fast_len(n_rho + n_t, real=True)
    at = iy * width + ix
    # the template repeats every 90 degrees (the lines are the whole ring of integer
    # frequencies): a correlation over 90 degrees of the spectrum's two quarter turns
    # summed is the half turn's, whose two halves are equal
    quarter = template[:, : n_phi // 2]
    if not np.array_equal(quarter, template[:, n_phi // 2 :]):
        raise ValueError("the log-polar template must repeat every 90 degrees")
    transformed = np.conj(sfft.rfft2(quarter, s=(size, n_phi // 2)))
    for array in (at, transformed):
        array.setflags(write=False)
    return _LogPolar(at, transformed, size, step, k_lo)


def _log_polar_peaks(
    scorer: LineScorer,
    search: LatticeSearch,
    min_p: float,
    max_p: float,
    count: int,
    sharp: bool = False,
) -> list[tuple[float, float]]:
    """Fourier-Mellin: the ``count`` best (period, angle) over every period and angle, on
    the 3x3-max-filtered spike spectrum (or, ``sharp``, on the spectrum itself)."""
    n_phi = _N_PHI
    f_lo = search.band_low
    lp = _log_polar(scorer, search)
    step, k_lo, size = lp.step, lp.k_lo, lp.size
    quarter = n_phi // 2
    flat = (scorer.q if sharp else scorer.q_max).ravel()
    polar = flat.take(lp.at[:, :quarter]) + flat.take(lp.at[:, quarter:])  # see _log_polar_plan
    corr = sfft.irfft2(sfft.rfft2(polar, s=(size, quarter)) * lp.template, s=(size, quarter))
    # Row s: line log|k| = log k_lo + j*step sits at rho index j + s: P = k_lo / f_lo e^(-s step).
    log_p = math.log(k_lo) - math.log(f_lo) - np.arange(size) * step
    corr[(log_p < math.log(min_p)) | (log_p > math.log(max_p)), :] = -np.inf
    out: list[tuple[float, float]] = []
    di = max(2, round(0.03 / step))
    for _ in range(count):
        i, j = np.unravel_index(int(np.argmax(corr)), corr.shape)
        if not np.isfinite(corr[i, j]):
            break
        out.append((math.exp(log_p[i]), math.pi * j / n_phi))
        corr[max(0, i - di) : i + di + 1, [jj % quarter for jj in range(j - 6, j + 7)]] = -np.inf
    return out


def global_peaks(
    scorer: LineScorer, search: LatticeSearch, count: int, sharp: bool = False
) -> list[tuple[float, float]]:
    """The ``count`` best (period, angle) of the log-polar (Fourier-Mellin) correlation over
    every period and angle, unrefined (:func:`find_lattices` refines its first
    ``search.n_global``); ``sharp``: on the spike spectrum itself rather than its 3x3
    maximum, which ranks a weak mark's lattice higher when the search's first guess was
    right to within a bin. Kept on the scorer: a second call with no more peaks costs
    nothing, so ask first for the most you will need."""
    cached = scorer.peaks.get((search, sharp))
    if cached is None or len(cached) < count:
        max_p = min(search.max_period, search.max_period_fraction * min(scorer.h, scorer.w))
        cached = _log_polar_peaks(scorer, search, search.min_period, max_p, count, sharp)
        scorer.peaks[(search, sharp)] = cached
    return cached[:count]


def line_scorer(rw: FloatArray, lines: NDArray, search: LatticeSearch) -> LineScorer:
    """The scorer of ``rw``'s spike spectrum over ``lines`` from ``search.min_line_radius``
    up (the lines a lattice is scored by)."""
    lines = np.asarray(lines)
    lines = lines[np.hypot(lines[:, 0], lines[:, 1]) >= search.min_line_radius]
    band = (search.band_low, search.band_high)
    q = spike_spectrum(rw, band, search.whiten_size, search.clip)
    return LineScorer(q, rw.shape, lines)


def find_lattices(
    rw: FloatArray,
    lines: NDArray[np.int_],
    nominal_periods: Sequence[float] = (),
    search: LatticeSearch | None = None,
    scorer: LineScorer | None = None,
    min_score: float = 0.0,
    min_nominal_score: float = 0.0,
) -> list[Lattice]:
    """Candidate square lattices for a periodic component of ``rw``, most specific first.

    ``lines`` are the cell frequencies the pattern uses (one of each +-k pair); a lattice
    of period ``P`` at angle ``t`` puts line ``k`` at ``R(t) k / P`` cycles per pixel, and
    is scored by the whitened spectrum summed over those positions. The candidates are, in
    order: the nominal lattices (``nominal_periods`` x ``search.nominal_angles``: no
    geometric change since embedding); the best angle within ``search.max_rotation`` of a
    nominal one at each nominal period (a rotation); the best period at each nominal angle
    (a crop or resize); and the ``search.n_global`` best of a log-polar (Fourier-Mellin)
    correlation over every period and angle. All but the nominal ones are refined. At most
    :meth:`LatticeSearch.max_candidates` lattices come back, duplicates removed: the
    nominal ones that score ``min_nominal_score`` or more, the searched ones ``min_score``.
    Pass ``scorer`` (:func:`line_scorer` of the same ``rw``, ``lines`` and ``search``) to
    reuse its spectrum.
    """
    search = search or LatticeSearch()
    h, w = rw.shape
    scorer = scorer or line_scorer(rw, lines, search)
    min_p = search.min_period
    max_p = min(search.max_period, search.max_period_fraction * min(h, w))
    nominal_angles = [math.radians(a) for a in search.nominal_angles]
    found = _nominal(nominal_periods, search, scorer)  # (period, angle, score)
    n_nominal = len(found)
    # rotations at a nominal period
    turn = math.radians(search.max_rotation)
    for period in nominal_periods:
        angles = np.concatenate(
            [a + np.arange(-turn, turn + 1e-9, math.radians(0.4)) for a in nominal_angles]
        )
        found.append(
            _best_of_scan(scorer, np.full(len(angles), period), angles, search.scan_peaks)
        )
    # crops and resizes at a nominal angle
    periods = min_p * np.exp(np.arange(0.0, math.log(max_p / min_p), 0.008))
    for angle in nominal_angles:
        found.append(
            _best_of_scan(scorer, periods, np.full(len(periods), angle), search.scan_peaks)
        )
    peaks = global_peaks(scorer, search, search.n_global)
    if peaks:
        found.extend(scorer.refine_many(*(np.array(v) for v in zip(*peaks, strict=True))))
    results: list[Lattice] = []
    for i, (period, angle, score) in enumerate(found):
        if score < (min_score if i >= n_nominal else min_nominal_score):
            continue
        if any(_close(period, angle, lat) for lat in results):
            continue
        results.append(Lattice.square(period, angle, score))
    return results


#: peaks of a scan that are refined after the fine-score ranking
_REFINED_PEAKS = 3


def _best_of_scan(
    scorer: LineScorer, periods: NDArray, angles: NDArray, n_peaks: int
) -> tuple[float, float, float]:
    """The best lattice near the ``n_peaks`` best separated points of a 1-D coarse scan."""
    scores = scorer.coarse(periods, angles)
    order = np.argsort(scores)[::-1]
    picked: list[int] = []
    for i in order:
        if all(abs(int(i) - j) > 3 for j in picked):
            picked.append(int(i))
        if len(picked) == n_peaks:
            break
    # The coarse scores are noisy: rank the peaks by the fine score at each peak and its two
    # neighbours in the scan, and refine only the best ``_REFINED_PEAKS``.
    near = np.clip(np.array(picked)[:, None] + np.arange(-1, 2)[None, :], 0, len(periods) - 1)
    fine = scorer.fine(periods[near].ravel(), angles[near].ravel()).reshape(near.shape)
    best = [picked[i] for i in np.argsort(fine.max(axis=1))[::-1][:_REFINED_PEAKS]]
    refined = scorer.refine_many(periods[best], angles[best])
    return max(refined, key=lambda t: t[2])


def _close(period: float, angle: float, lattice: Lattice) -> bool:
    d_angle = abs((math.degrees(angle) - lattice.angle + 45.0) % 90.0 - 45.0)
    return abs(period / lattice.period - 1.0) < 0.003 and d_angle < 0.15
