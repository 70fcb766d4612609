"""Synchronisation: from a candidate lattice to an alignment of the keyed sync lines.

Decoding never needs the original or its size. The image is scaled to a short side of
512, whitened, and candidate lattices are read off its spectrum
(:mod:`synthmark.watermark.lattice`), which undoes crop, scale, rotation and mirroring.
Folding the image onto one cell and a phase-only correlation of its spectrum with the
keyed sync lines, under the 8 symmetries of the square lattice and ``shift_grid^2``
cyclic shifts, give the alignment (:meth:`Synchroniser.align`). When no candidate gives a
valid payload but the best reaches a sync score of ``refine_gate``, a keyed local search
turns and scales that lattice on a fixed fine grid (:meth:`Synchroniser.refine`; the
keyless search is good to about half a degree, which loses a weak mark's upper lines at
the image's edges). When that fails too, a keyed scan (:meth:`Synchroniser.scan`) scores
every period at the nominal angle (a crop or resize) and every angle at the nominal period
(a rotation) by the sync lines of the image's own zero-padded spectrum, aligns the best
two and refines the better one: it finds the lattice of an unmirrored image whose mark is
too weak for the keyless search.

How many alignments each stage may test is counted here too
(:func:`false_positive_bound`), for :mod:`~synthmark.watermark.tiled.bound`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

from synthmark.watermark.fold import FoldBuffers, Folder
from synthmark.watermark.lattice import Lattice, line_frequencies, vertex
from synthmark.watermark.tiled.bound import FalsePositiveBound
from synthmark.watermark.tiled.design import D4, Layout, TileDesign

__all__ = [
    "Alignment",
    "LineCorrelator",
    "Synchroniser",
    "crop_periods",
    "false_positive_bound",
]

#: how many lattice periods the candidate search assumes (marked at >= 512 px, or at the
#: image's own size below it; see ``Synchroniser.nominal_periods``)
_NOMINAL_PERIODS = 2


@dataclass
class Alignment:
    """A lattice, the symmetry and cyclic shift that align the sync lines on it, the sync
    score ``z`` there, and the folded cell's spectrum."""

    lattice: Lattice
    z: float
    symmetry: int
    shift: tuple[float, float]
    spectrum: NDArray[np.complex128]


class LineCorrelator:
    """The inverse FFT of values at ``lines`` of ``side x side`` planes, real part,
    unnormalised: the correlation of those lines, with given phases, over every cyclic
    shift.

    The numbers of :func:`scipy.fft.irfft2` of the Hermitian half of planes holding half of
    each value at its line and half its conjugate at the opposite line, times ``side^2``
    (exactly, for a ``side`` that is a power of two), for less work: the plane's indices
    are computed once, only the columns (horizontal frequencies) that a line reaches are
    transformed along the columns, the rest being zeros, and nothing is scaled.

    Args:
        lines: integer cell frequencies, one of each +-pair (distinct modulo ``side``).
        side: the plane's side (a shift grid).
    """

    def __init__(self, lines: NDArray[np.int_], side: int) -> None:
        self.side = side
        half = side // 2 + 1
        self._passes = []
        for at in (lines % side, -lines % side):
            rows, cols = at.T
            keep = cols < half  # no index repeats within a pass
            self._passes.append((rows[keep], cols[keep], keep))
        self._width = max((int(c.max()) for _, c, _ in self._passes if c.size), default=0) + 1

    def __call__(self, values: NDArray, dtype: type) -> NDArray:
        """One plane of correlations per row of ``values`` (one value per line)."""
        planes: NDArray = np.zeros((len(values), self.side, self._width), dtype)
        values = 0.5 * values
        for (rows, cols, keep), vals in zip(self._passes, (values, np.conj(values)), strict=True):
            planes[:, rows, cols] += vals[:, keep]
        # irfft2 transforms the columns, then the rows, whose columns past the lines' reach
        # are zeros (irfft pads them)
        columns = sfft.ifft(planes, axis=1, norm="forward")
        out: NDArray = sfft.irfft(columns, n=self.side, axis=2, norm="forward")
        return out


def scan_lattices(
    design: TileDesign,
) -> tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]:
    """The keyed scan's two families of (periods, angles in radians), in decode space
    (see ``TileDesign.scan_step``): every period from the nominal one to the longest at
    the nominal angle (a crop or resize), and every angle within the search's largest
    rotation at the nominal period (a rotation)."""
    d = design
    nominal = d.nominal_period
    angle = math.radians(d.search.nominal_angles[0])
    longest = min(d.search.max_period, d.search.max_period_fraction * d.work_short)
    periods = nominal * np.exp(np.arange(0.0, math.log(longest / nominal), d.scan_step))
    turn = math.radians(d.search.max_rotation)
    angles = angle + np.arange(-turn, turn + 1e-9, math.radians(d.scan_angle_step))
    return (
        (periods, np.full(len(periods), angle)),
        (np.full(len(angles), nominal), angles),
    )


def crop_periods(design: TileDesign, short: int) -> list[float]:
    """Decode-space periods of a mark cropped, without a resize, to a short side of
    ``short`` pixels from an image of short side one of ``design.crop_sides`` (marked at
    ``work_short`` or more): longer than ``short``, in the search's range and not the
    nominal period (which the rotation family covers)."""
    d = design
    longest = min(d.search.max_period, d.search.max_period_fraction * d.work_short)
    out = []
    for side in d.crop_sides:
        period = d.nominal_period * side / short
        beyond_nominal = math.log(period / d.nominal_period) > d.scan_step
        if side > short and beyond_nominal and period <= longest:
            out.append(period)
    return out


def refine_grid_size(design: TileDesign) -> int:
    """Points of the refinement grid."""
    return (2 * design.refine_angle_steps + 1) * (2 * design.refine_scale_steps + 1)


def false_positive_bound(design: TileDesign) -> FalsePositiveBound:
    """The bound of ``design``'s search: the candidate stage tests every lattice candidate
    x 8 symmetries x cyclic shifts; the refined stage any candidate x its whole grid (a
    superset of what the local search visits); the scan any scanned lattice, or lattice of
    the affine search, x the same grid. A read checks at most one word per lattice
    candidate, one refined, one from the scan, and the ``list_size - 1`` next words of the
    best."""
    d = design
    candidates = d.search.max_candidates(_NOMINAL_PERIODS)
    n_hypotheses = candidates * len(D4) * d.shift_grid**2
    grid = refine_grid_size(d)
    families = scan_lattices(d)
    n_scanned = sum(len(periods) for periods, _ in families)
    n_scanned += len(d.crop_sides) * len(families[1][0])  # crop_periods x every angle
    n_scanned += d.affine.count + (d.scan_global + d.scan_sharp) * len(_NEIGHBOURS)
    return FalsePositiveBound(
        n_sync=d.n_sync,
        crc_bits=d.crc_bits,
        alpha=d.alpha,
        n_hypotheses=n_hypotheses,
        n_refined_hypotheses=n_hypotheses * grid,
        n_scan_hypotheses=n_scanned * grid * len(D4) * d.shift_grid**2,
        refine_share=d.refine_share,
        scan_share=d.scan_share,
        max_decodes=candidates + 2 + max(d.list_size - 1, 0),
    )


#: lattices whose scan correlations are computed at once (their planes fit in the cache)
_SCAN_CHUNK = 32

#: symmetries whose correlation :meth:`Synchroniser.align` computes at every shift, the
#: best at every other shift (the exact best whenever it is among them)
_FINE_SYMMETRIES = 2


#: the 3 x 3 neighbourhood, in scan steps of period and angle, of an extra scan lattice
#: (one step either way: 0.6% in period, 0.25 degrees; a 5 x 5 one read no more)
_STEPS = (-1, 0, 1)
_NEIGHBOURS = np.array([(a, b) for a in _STEPS for b in _STEPS], np.float64)


def _neighbours(
    lattices: Sequence[tuple[float, float]], design: TileDesign
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Periods and angles of each lattice's :data:`_NEIGHBOURS`, lattice by lattice."""
    base = np.asarray(lattices, np.float64)
    periods = base[:, None, 0] * np.exp(design.scan_step * _NEIGHBOURS[None, :, 0])
    angles = base[:, None, 1] + math.radians(design.scan_angle_step) * _NEIGHBOURS[None, :, 1]
    return periods.ravel(), angles.ravel()


class Synchroniser:
    """Aligns the keyed sync lines of ``layout`` on lattices of a whitened residual.

    Args:
        layout: the keyed layout (sync lines and phases).
        design: the scheme's constants.
    """

    def __init__(self, layout: Layout, design: TileDesign) -> None:
        self.layout = layout
        self.design = design
        self._correlators: dict[int, LineCorrelator] = {}
        self._buffers = FoldBuffers()  # per thread

    def _correlator(self, side: int) -> LineCorrelator:
        """The :class:`LineCorrelator` of the sync lines on ``side x side`` shifts."""
        if side not in self._correlators:
            self._correlators[side] = LineCorrelator(self.layout.sync, side)
        return self._correlators[side]

    @cached_property
    def scan_lattices(self) -> tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]:
        """:func:`scan_lattices` of the design."""
        return scan_lattices(self.design)

    def nominal_periods(self, size: tuple[int, int]) -> list[float]:
        """Decode-space periods if the image was not cropped: marked at >= 512 px (any
        resize since), or marked at its current size below 512 px."""
        d = self.design
        short = min(size)
        out = [d.step * math.sqrt(5.0)]
        if short < d.work_short:
            out.append(d.small_step * math.sqrt(5.0) * d.work_short / short)
        return out

    def folder(self, rw: NDArray, wt: NDArray) -> Folder:
        """A :class:`~synthmark.watermark.lattice.Folder` of ``rw`` (weights ``wt``) onto
        this design's cell grid, to pass to every method of one read."""
        return Folder(rw, wt, self.design.grid, self._buffers)

    def align(
        self, rw: NDArray, wt: NDArray, lattice: Lattice, folder: Folder | None = None
    ) -> Alignment:
        """Fold the weighted residual ``rw`` (weights ``wt``) onto ``lattice``'s cell and find
        the symmetry and cyclic shift that best align the sync lines (phase only); pass
        ``folder`` (:meth:`folder` of ``rw``, ``wt``) when aligning many lattices."""
        d = self.design
        lay = self.layout
        g, pg = d.grid, d.shift_grid
        folder = folder or self.folder(rw, wt)
        spectrum = sfft.fft2(folder(lattice.basis))
        sync = lay.sync
        rot = np.exp(-1j * lay.psi)
        # phase only: each line contributes cos(phase error), whatever its magnitude. The
        # correlation over every shift is the real part of an inverse FFT of the lines, i.e.
        # the inverse FFT of their Hermitian part, for which a real transform of half the
        # plane suffices (one batch for the symmetries).
        unit = np.empty((len(D4), len(sync)), np.complex128)
        for i, m in enumerate(D4):
            k = sync @ m.T
            z = spectrum[k[:, 0] % g, k[:, 1] % g]
            unit[i] = z / (np.abs(z) + 1e-12) * rot
        # Every other shift first (a quarter of the work; the same values there), then every
        # shift for the symmetries best there: a mark's symmetry stands far above the rest.
        coarse = pg // 2
        rough = self._correlator(coarse)(unit, np.complex128).reshape(len(D4), -1)
        syms = np.argsort(rough.max(axis=1))[::-1][:_FINE_SYMMETRIES]
        # unscaled transform: irfft2's 1 / pg^2 and the old pg^2 cancel exactly
        corrs = self._correlator(pg)(unit[syms], np.complex128) / math.sqrt(len(sync))
        best = int(np.argmax(corrs.reshape(len(syms), -1).max(axis=1)))
        sym = int(syms[best])
        corr = corrs[best]
        peak = float(corr.max())
        i0, i1 = np.unravel_index(int(np.argmax(corr)), corr.shape)
        s0 = i0 + vertex(corr[(i0 - 1) % pg, i1], corr[i0, i1], corr[(i0 + 1) % pg, i1])
        s1 = i1 + vertex(corr[i0, (i1 - 1) % pg], corr[i0, i1], corr[i0, (i1 + 1) % pg])
        return Alignment(lattice, peak, sym, (float(s0), float(s1)), spectrum)

    def refine(
        self, rw: NDArray, wt: NDArray, start: Alignment, folder: Folder | None = None
    ) -> Alignment:
        """Keyed local search around ``start``: the lattice turned and scaled on a fixed
        grid (:class:`TileDesign` ``refine_*``), climbing the sync score, first in strides of
        three grid points, then one. The keyless search finds a weak mark's lattice only
        to within about half a degree, which loses the upper lines at the image's edges."""
        d = self.design
        base = start.lattice.basis
        span = (d.refine_angle_steps, d.refine_scale_steps)

        def lattice_at(pos: tuple[int, int]) -> Lattice:
            t = math.radians(pos[0] * d.refine_angle_step)
            turn = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
            scaled = (1.0 + pos[1] * d.refine_scale_step) * (turn @ base)
            return Lattice(basis=scaled, score=start.lattice.score)

        folder = folder or self.folder(rw, wt)
        best, here = start, (0, 0)
        seen = {here}
        for stride in d.refine_strides:
            moved = True
            while moved:
                moved = False
                for di, dj in itertools.product((-stride, 0, stride), repeat=2):
                    pos = (here[0] + di, here[1] + dj)
                    if pos in seen or abs(pos[0]) > span[0] or abs(pos[1]) > span[1]:
                        continue
                    seen.add(pos)
                    al = self.align(rw, wt, lattice_at(pos), folder)
                    if al.z > best.z:
                        best, best_pos, moved = al, pos, True
                if moved:
                    here = best_pos
        return best

    def scan(
        self,
        rw: NDArray,
        wt: NDArray,
        extra: Sequence[tuple[float, float]] = (),
        periods: Sequence[float] = (),
        folder: Folder | None = None,
    ) -> Alignment:
        """The keyed scan (see ``TileDesign.scan_step``): every lattice of
        :attr:`scan_lattices` is scored by the phase-only sync correlation of the image's
        own spectrum at its sync frequencies (one zero-padded FFT, nearest bins, identity
        symmetry, a coarse shift grid); of each family's ``scan_top`` best, apart from each
        other, the ``scan_top`` best overall are aligned exactly, and the best alignment is
        returned. ``extra`` (period, angle in radians) lattices, the keyless search's
        weaker global peaks, are scored too, each at its 3 x 3 neighbours in scan steps of
        period and angle; and every angle of the rotation family at each of ``periods``
        (:func:`crop_periods`: at most ``len(crop_sides)``)."""
        d = self.design
        h, w = rw.shape
        families = list(self.scan_lattices)
        turns = families[1][1]
        families += [(np.full(len(turns), p), turns) for p in periods]
        near = _neighbours(extra, d) if extra else (np.zeros(0), np.zeros(0))
        shortest = min(float(p.min()) for p in (*(f[0] for f in families), near[0]) if p.size)
        spectrum = self._padded_spectrum(rw, shortest)
        # every lattice scored at once (the same numbers, in fewer chunks), then split
        every = [*families, near]
        all_periods, all_angles = (np.concatenate([f[i] for f in every]) for i in (0, 1))
        scores = self._scan_scores(spectrum, (h, w), all_periods, all_angles)
        *parts, near_scores = np.split(scores, np.cumsum([len(f[0]) for f in families]))
        best: list[tuple[float, NDArray[np.float64]]] = []  # (approximate score, basis)
        for (family_periods, angles), score in zip(families, parts, strict=True):
            best.extend(self._scan_peaks(score, family_periods, angles))
        if extra:
            near_periods, near_angles = near
            score = near_scores.reshape(len(extra), -1)
            for row, i in enumerate(np.argmax(score, axis=1)):
                j = row * score.shape[1] + int(i)
                ci, si = math.cos(near_angles[j]), math.sin(near_angles[j])
                basis = near_periods[j] * np.array([[ci, -si], [si, ci]])
                best.append((float(score[row, i]), basis))
        best.sort(key=lambda t: t[0], reverse=True)
        folder = folder or self.folder(rw, wt)
        aligned = [
            self.align(rw, wt, Lattice(basis=b, score=z), folder) for z, b in best[: d.scan_top]
        ]
        return max(aligned, key=lambda al: al.z)

    def _padded_spectrum(self, rw: NDArray, shortest: float) -> NDArray[np.complex64]:
        """``rfft2(rw, s=(scan_pad * h, scan_pad * w))``, cut to the columns (horizontal
        frequencies) that a sync line of a lattice of period ``shortest`` or more can reach:
        the rows' transforms first, then the columns' for the columns kept only; so the
        same numbers there without transforming the padding's rows of zeros, nor the
        columns no lattice reads."""
        d = self.design
        h, w = rw.shape
        big_h, big_w = d.scan_pad * h, d.scan_pad * w
        reach = float(np.hypot(self.layout.sync[:, 0], self.layout.sync[:, 1]).max())
        cols = min(big_w // 2 + 1, math.ceil(reach * big_w / shortest) + 2)
        rows = sfft.rfft(rw, n=big_w, axis=1)[:, :cols]
        return np.asarray(sfft.fft(rows, n=big_h, axis=0))

    def _scan_scores(
        self, spectrum: NDArray, shape: tuple[int, int], periods: NDArray, angles: NDArray
    ) -> NDArray[np.float32]:
        """The coarse sync score of each (period, angle) off the zero-padded spectrum."""
        d = self.design
        lay = self.layout
        h, w = shape
        big_h, big_w = d.scan_pad * h, d.scan_pad * w
        pg = d.scan_shift_grid
        sync = lay.sync
        fx, fy, sign = line_frequencies(sync, periods, angles)
        iy = np.rint(fy * big_h).astype(np.intp) % big_h
        z = spectrum[iy, np.rint(fx * big_w).astype(np.intp)]
        z = z * np.exp(2j * np.pi * (fx * (w / 2) + fy * (h / 2)))  # phase at the centre
        z = np.where(sign < 0, np.conj(z), z)
        unit = z / (np.abs(z) + 1e-12) * np.exp(-1j * lay.psi)
        scores: NDArray[np.float32] = np.empty(len(periods), np.float32)
        for start in range(0, len(periods), _SCAN_CHUNK):  # chunks stay in the cache
            part = unit[start : start + _SCAN_CHUNK]
            corr = self._correlator(pg)(part, np.complex64)
            scores[start : start + len(part)] = corr.reshape(len(part), -1).max(axis=1)
        scores /= pg * pg  # irfft2's scale (a power of two: the same numbers)
        return scores

    def _scan_peaks(
        self, score: NDArray, periods: NDArray, angles: NDArray
    ) -> list[tuple[float, NDArray[np.float64]]]:
        """The ``scan_top`` best separated scan points, as (score, lattice basis)."""
        d = self.design
        picked: list[int] = []
        out = []
        for i in np.argsort(score)[::-1]:
            if len(picked) == d.scan_top:
                break
            if any(abs(int(i) - j) < d.scan_peak_gap for j in picked):  # the same peak
                continue
            picked.append(int(i))
            ci, si = math.cos(angles[i]), math.sin(angles[i])
            out.append((float(score[i]), periods[i] * np.array([[ci, -si], [si, ci]])))
        return out
