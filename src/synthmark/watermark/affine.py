"""A lattice under any affine map: read its two basis vectors off the spectrum.

:func:`~synthmark.watermark.lattice.find_lattices` looks for square lattices (a scale, a
rotation, a crop and a mirror of the marked image). A stretch along one axis (a changed
aspect ratio) or a shear makes the lattice a parallelogram, whose lines none of those
candidates predicts. But whatever the linear map ``A``, the pattern's lines still form a
lattice in the spectrum, the reciprocal one ``G = B^-T`` of the image's lattice basis ``B``:
every line has neighbours at ``+-g1`` and ``+-g2``. So the autocorrelation of the whitened
spectrum (:func:`~synthmark.watermark.whiten.spike_spectrum`) peaks at the reciprocal
basis vectors. :func:`affine_lattices` takes the strongest such peaks, reduces them to the
shortest basis (Lagrange-Gauss), turns them into a lattice basis and refines all four of its
entries by the line score. Nothing here depends on a key: the scheme aligns its keyed sync
lines on the lattices found, as on any other candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray
from scipy import ndimage

from synthmark.watermark.lattice import Lattice, LineScorer, vertex

__all__ = ["AffineSearch", "affine_lattices", "reduce_basis"]


@dataclass(frozen=True)
class AffineSearch:
    """Parameters of the affine search, in decode-space pixels."""

    #: the periods searched (a shorter reciprocal vector than 1 / ``max_period`` hides in
    #: the autocorrelation's central peak)
    min_period: float = 45.0
    max_period: float = 130.0
    #: the strongest peak must stand this many standard deviations above the median of the
    #: lags searched: 20 unmarked images at 512 px scored 1.7-3.6 but for 3 periodic
    #: textures (5.5-5.8), an aspect change or shear of a marked one 4.6-7.3
    gate: float = 3.0
    #: peaks of the autocorrelation kept as basis candidates, and how many of the strongest
    #: give half sums and differences
    peaks: int = 6
    half_sums: int = 4
    #: bases sharpened and refined (the best by the autocorrelation), and lattices returned
    tried: int = 3
    count: int = 2
    #: the multiples of a reciprocal vector whose peaks sharpen it
    multiples: tuple[int, ...] = (2, 4, 8)
    #: the smallest angle between the two basis vectors (degrees)
    min_angle: float = 50.0
    #: local refinement: relative steps of the reciprocal basis entries, shrunk each round
    refine_span: float = 0.004
    refine_rounds: int = 3


def reduce_basis(g1: NDArray, g2: NDArray) -> tuple[NDArray, NDArray]:
    """The Lagrange-Gauss reduced basis of the lattice spanned by ``g1`` and ``g2``."""
    a, b = np.asarray(g1, np.float64), np.asarray(g2, np.float64)
    if a @ a > b @ b:
        a, b = b, a
    for _ in range(32):
        m = round(float(a @ b) / float(a @ a))
        if m == 0:
            break
        b = b - m * a
        if b @ b < a @ a:
            a, b = b, a
    return a, b


class _Autocorrelation:
    """The circular autocorrelation of the mean-free spike spectrum over the whole plane
    (rows: vertical bins, columns: horizontal bins; lag 0 at [0, 0]): the small lags that
    the gate of :func:`_peaks` reads (:meth:`window`; on most unmarked images the gate
    ends the search), and the plane's rows as asked, the numbers of
    ``irfft2(|rfft2(plane)|^2)`` by the same one-axis transforms, without those of rows
    that are zero (outside the band) or not asked for."""

    def __init__(self, scorer: LineScorer) -> None:
        h, w = scorer.h, scorer.w
        q = scorer.q
        full = np.zeros((h, w), np.float32)
        kept = q.shape[1]  # w // 2 + 1 at most; zeros past it (spike_spectrum)
        full[:, :kept] = q
        # the spectrum of a real image is Hermitian: bin (y, x) mirrors (-y, -x)
        mirrored = np.roll(q[::-1], 1, axis=0)  # row y holds row -y
        start = max(kept, w - kept + 1)
        full[:, start:] = mirrored[:, w - start : 0 : -1]
        np.subtract(full, np.float32(scorer.mean), out=full, where=full > 0)  # mean-free band
        self._full = full
        self._live = np.flatnonzero(full.any(axis=1))
        signed = np.where(self._live <= h // 2, self._live, h - self._live)
        #: the largest |vertical| and |horizontal| frequency (bins) where the plane is not 0
        columns = np.flatnonzero(q.any(axis=0))
        self._reach = (int(signed.max(initial=0)), int(columns.max(initial=0)))
        self._scale = np.float32(1.0 / (h * w))
        self.shape = (h, w)

    def window(self, ry: int, rx: int) -> NDArray[np.float64]:
        """The lags ``-ry..ry`` (rows) by ``-rx..rx`` (columns), from a transform of the
        band alone, zero-padded just enough that its autocorrelation does not wrap onto
        them: the plane's values there, to rounding, in a fraction of the work."""
        h, w = self.shape
        sy, sx = self._reach
        ny = sfft.next_fast_len(2 * sy + ry + 2)
        nx = sfft.next_fast_len(2 * sx + rx + 2, real=True)
        ly, lx = np.arange(-ry, ry + 1), np.arange(-rx, rx + 1)
        if ny >= h or nx >= w:
            return self.rows(ly % h)[:, lx % w]
        band = np.zeros((ny, nx), np.float32)
        full = self._full
        # the four quadrants of non-negative and negative frequencies (none past the reach)
        band[: sy + 1, : sx + 1] = full[: sy + 1, : sx + 1]
        band[: sy + 1, nx - sx :] = full[: sy + 1, w - sx :]
        band[ny - sy :, : sx + 1] = full[h - sy :, : sx + 1]
        band[ny - sy :, nx - sx :] = full[h - sy :, w - sx :]
        spec = sfft.rfft2(band)
        power = spec.real * spec.real + spec.imag * spec.imag
        acf = sfft.irfft2(power, s=(ny, nx))  # the correlation's sum over 1 / (ny nx)
        return np.asarray(acf[np.ix_(ly % ny, lx % nx)], np.float64)

    @cached_property
    def _columns(self) -> NDArray[np.complex64]:
        """The plane's power spectrum, its columns transformed back (unscaled)."""
        h, w = self.shape
        # rfft2: the rows' real transforms, then the columns'
        rows = np.zeros((h, w // 2 + 1), np.complex64)
        rows[self._live] = sfft.rfft(self._full[self._live], axis=1)
        spec = sfft.fft(rows, axis=0)
        power = spec.real * spec.real + spec.imag * spec.imag
        # irfft2: the columns' transforms (unscaled), then each row's, scaled by 1 / (h w)
        return np.asarray(sfft.ifft(power + 0j, axis=0, norm="forward"))

    def rows(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """The autocorrelation's ``rows`` (vertical lags modulo the height)."""
        out = sfft.irfft(self._columns[rows], n=self.shape[1], axis=1, norm="forward")
        return np.asarray(out * self._scale, np.float64)

    @cached_property
    def plane(self) -> NDArray[np.float64]:
        """Every row."""
        return self.rows(np.arange(self.shape[0]))


def _peaks(
    acf: _Autocorrelation, search: AffineSearch, count: int
) -> list[NDArray[np.float64]]:
    """The ``count`` strongest local maxima of ``acf`` whose lag is a reciprocal vector of
    a period in range, as (fx, fy) cycles per pixel (one of each +-pair), sub-bin refined;
    none when the strongest does not stand ``search.gate`` robust deviations above the
    window's median (most unmarked images: it saves the refinement)."""
    h, w = acf.shape
    # only small lags can be a reciprocal basis vector: look at a window around lag 0
    ry, rx = math.ceil(h / search.min_period) + 2, math.ceil(w / search.min_period) + 2
    ly, lx = np.arange(-ry, ry + 1), np.arange(-rx, rx + 1)
    win = acf.window(ry, rx)
    fy, fx = ly[:, None] / h, lx[None, :] / w
    radius = np.hypot(fx, fy)
    inside = (radius >= 1.0 / search.max_period) & (radius <= 1.0 / search.min_period)
    inside &= (fx > 0) | ((fx == 0) & (fy > 0))
    local = win >= ndimage.maximum_filter(win, 3, mode="nearest")
    idx = np.flatnonzero((inside & local).ravel())
    top = idx[np.argsort(win.ravel()[idx])[::-1][:count]]
    ring = win[inside]
    spread = float(np.std(ring))
    if not top.size or win.ravel()[top[0]] < float(np.median(ring)) + search.gate * spread:
        return []
    out = []
    for i in top:
        r, c = divmod(int(i), win.shape[1])
        dr = vertex(win[r - 1, c], win[r, c], win[r + 1, c])
        dc = vertex(win[r, c - 1], win[r, c], win[r, c + 1])
        out.append(np.array([(lx[c] + dc) / w, (ly[r] + dr) / h]))
    return out



def _refine(scorer: LineScorer, recip: NDArray, search: AffineSearch) -> tuple[NDArray, float]:
    """Coordinate search of the four entries of a reciprocal basis, maximising the line
    score: each entry up and down by a step, the best move taken while one improves (at
    most ``2 x 4`` moves a round), the step shrinking by 3 each round."""
    moves = np.concatenate([np.eye(4), -np.eye(4)]).reshape(8, 2, 2)
    best = recip.copy()
    best_score = float(scorer.fine_reciprocal(best[None])[0])
    step = search.refine_span * float(np.abs(recip).max())
    for _ in range(search.refine_rounds):
        for _ in range(8):
            trials = best[None] + step * moves
            scores = scorer.fine_reciprocal(trials)
            i = int(np.argmax(scores))
            if scores[i] <= best_score:
                break
            best, best_score = trials[i], float(scores[i])
        step /= 3.0
    return best, best_score


def _acf_at(acf: NDArray, vectors: NDArray) -> NDArray[np.float64]:
    """The autocorrelation at lags ``vectors`` (rows of (fx, fy) cycles per pixel),
    bilinearly."""
    h, w = acf.shape
    coords = np.stack([(vectors[:, 1] * h) % h, (vectors[:, 0] * w) % w])
    return np.asarray(ndimage.map_coordinates(acf, coords, order=1, mode="grid-wrap"))


def _bases(peaks: list[NDArray], search: AffineSearch) -> list[NDArray]:
    """Reciprocal bases (columns g1, g2) spanned by pairs of peaks far enough apart in
    angle, and by the half sums and differences of the strongest (the autocorrelation
    often peaks more at the diagonals ``g1 +- g2`` than at ``g1`` and ``g2``), reduced,
    without repeats."""
    vectors = list(peaks)
    strong = peaks[: search.half_sums]
    for i, a in enumerate(strong):
        for b in strong[i + 1 :]:
            vectors += [(a + b) / 2.0, (a - b) / 2.0]
    lo, hi = 1.0 / search.max_period, 1.0 / search.min_period
    vectors = [v for v in vectors if lo <= float(np.hypot(*v)) <= hi]
    limit = math.cos(math.radians(search.min_angle))
    out: list[NDArray] = []
    for i, a in enumerate(vectors):
        for b in vectors[i + 1 :]:
            cos = abs(float(a @ b)) / (float(np.hypot(*a)) * float(np.hypot(*b)))
            if cos <= limit:
                out.append(np.column_stack(reduce_basis(a, b)))
    # a weak mark under a mere rotation and scale may show one peak only: the square
    # lattice it belongs to, as a side (g1) or as a diagonal (g1 + g2)
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    for p in peaks[: search.half_sums]:
        side = (p + turn @ p) / 2.0
        out += [np.column_stack([p, turn @ p]), np.column_stack([side, turn @ side])]
    return out


def _sharpen(acf: NDArray, g: NDArray, search: AffineSearch) -> NDArray:
    """A reciprocal vector known to a few per cent, made precise by the autocorrelation's
    peaks at its multiples: the peak nearest ``m g`` gives ``g`` to ``1/m`` of the error,
    for ``m`` = 2, 4, 8, ... while such a peak stands out."""
    h, w = acf.shape
    for m in search.multiples:
        guess = m * g
        r0, c0 = round(float(guess[1]) * h), round(float(guess[0]) * w)
        rows = np.arange(r0 - 2, r0 + 3) % h
        cols = np.arange(c0 - 2, c0 + 3) % w
        window = acf[np.ix_(rows, cols)]
        i, j = np.unravel_index(int(np.argmax(window)), window.shape)
        if not 0 < i < 4 or not 0 < j < 4 or window[i, j] <= 0:
            break  # no peak near the prediction (or at the window's edge)
        dr = vertex(window[i - 1, j], window[i, j], window[i + 1, j])
        dc = vertex(window[i, j - 1], window[i, j], window[i, j + 1])
        peak = np.array([(c0 - 2 + j + dc) / w, (r0 - 2 + i + dr) / h])
        g = peak / m
    return g


def affine_lattices(scorer: LineScorer, search: AffineSearch | None = None) -> list[Lattice]:
    """Up to ``search.count`` lattices (any basis) whose reciprocal bases come from the
    strongest peaks of the spectrum's autocorrelation (:func:`_bases`), ranked by the
    autocorrelation at their shortest vectors, sharpened by the peaks at multiples
    (:func:`_sharpen`) and refined by the line score, best first."""
    search = search or AffineSearch()
    correlation = _Autocorrelation(scorer)
    bases = _bases(_peaks(correlation, search, search.peaks), search)
    if not bases:
        return []
    acf = correlation.plane
    # a basis of the pattern's lattice finds peaks at g1, g2, g1 + g2 and g1 - g2; a finer
    # lattice (one of half-sums) misses some of them, a coarser one predicts its lines
    # where there are none, which the line score tells
    shorts = np.array([[1, 0], [0, 1], [1, 1], [1, -1]], np.float64)
    lags = (np.stack(bases) @ shorts.T).transpose(0, 2, 1).reshape(-1, 2)
    weight = np.maximum(_acf_at(acf, lags), 0.0).reshape(len(bases), 4).sum(axis=1)
    chosen: list[NDArray] = []
    for i in np.argsort(weight)[::-1]:
        if len(chosen) == search.tried:
            break
        if not any(_same(np.linalg.inv(bases[i]), np.linalg.inv(g)) for g in chosen):
            chosen.append(bases[i])
    found: list[Lattice] = []
    for g in chosen:
        sharp = np.column_stack([_sharpen(acf, g[:, 0], search), _sharpen(acf, g[:, 1], search)])
        recip, score = _refine(scorer, sharp, search)
        basis = np.linalg.inv(recip).T  # B = G^-T
        if not any(_same(basis, lat.basis) for lat in found):
            found.append(Lattice(basis=basis, score=score))
    found.sort(key=lambda lat: lat.score, reverse=True)
    return found[: search.count]


def _same(a: NDArray, b: NDArray) -> bool:
    """Whether two bases span (nearly) the same lattice: ``a^-1 b`` is near an integer
    unimodular matrix."""
    m = np.linalg.solve(a, b)
    whole = np.rint(m)
    return bool(np.abs(m - whole).max() < 0.05 and abs(abs(np.linalg.det(whole)) - 1) < 1e-9)
