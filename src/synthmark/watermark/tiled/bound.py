"""The false-positive bound: pure maths, from the design and the number of hypotheses.

For an image that does not carry this key's mark, the sync phases are independent and
uniform (and independent of everything the lattice search looked at), so the phase-only
correlation ``C`` of the ``n`` sync lines at one hypothesis is a sum of ``n`` independent
``cos(uniform)``; :func:`phase_tail_bound` bounds its tail by Chernoff,
``min_t exp(-t c) I0(t)^n <= exp(-c^2 / n)``. A union bound over every hypothesis a
decoding :class:`Stage` may test gives the sync p-value, divided by the stage's weight:
``1 - refine_share - scan_share`` for the candidates (lattice candidates x 8 symmetries x
``shift_grid^2`` cyclic shifts), ``refine_share`` for the refined stage, whose count is
every candidate times its whole grid, so that choosing where to climb by the keyed score
costs nothing, and ``scan_share`` for the scan, whose count is every scanned lattice times
the same grid (weighted Bonferroni: the stages together stay within ``alpha``).

The carrier phases are independent of the sync phases, so the decoded 88-bit word is
uniform (the soft values are symmetric under any sign flip and Viterbi decoding is
equivariant) and passes the CRC-24 with probability 2^-24 whatever the sync found. When
every alignment's word fails the CRC, the best alignment's next ``list_size - 1`` most
likely words (list Viterbi) are checked too; each is uniform by the same symmetry (the
list decoder is equivariant as well). A read so checks at most
:attr:`FalsePositiveBound.max_decodes` words (16: one per lattice candidate, the refined
alignment's, the scan's and the list's 4), so a valid CRC alone bounds the false-positive
probability by 16 * 2^-24 = 9.5e-7, within ``alpha`` (1e-6) whatever the sync score:
``present`` requires a valid CRC, and the p-value reported is
``2^-24 * min(w * p_sync, 16)`` for a word found among ``w`` words of one alignment (1, or
``list_size`` for the list; ``p_sync`` not capped at 1 here), which a strong sync makes far
smaller. ``damaged`` means ``p_sync <= alpha`` on its own, but the CRC fails.
:meth:`FalsePositiveBound.thresholds` turns this into sync scores: 0 for ``present`` (with
a 16-bit CRC it would be 3.98, and 4.66 and 4.99 in the later stages), 4.99 for
``damaged`` (5.49 in the refined stage, 5.74 in the scan). These bounds are over the
choice of key: they hold for any fixed image.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

__all__ = ["FalsePositiveBound", "Stage", "as_stage", "phase_tail_bound"]


class Stage(str, enum.Enum):
    """The decoding stages, each with its own share of ``alpha``."""

    CANDIDATES = "candidates"
    REFINED = "refined"
    SCAN = "scan"

    def __str__(self) -> str:
        return self.value


def phase_tail_bound(c: float, n: int) -> float:
    """Bound on ``P(sum_k cos(phi_k) >= c)`` for ``n`` independent uniform phases.

    Chernoff: ``P <= min_t exp(-t c) E[exp(t cos phi)]^n = min_t exp(-t c) I0(t)^n``. The
    exponent is convex in ``t`` and stationary where ``I1(t) / I0(t) = c / n``, found by
    Brent's method. Since ``I0(t) <= exp(t^2 / 4)`` this is never above ``exp(-c^2 / n)``,
    and a little below it. The sum never exceeds ``n``, so from ``c >= n`` on it is 0.
    """
    from scipy.optimize import brentq
    from scipy.special import i0e, i1e

    if c <= 0 or n <= 0:
        return 1.0
    if c >= n:
        return 0.0
    ratio = c / n

    def slope(t: float) -> float:  # d/dt of the exponent, over n
        return float(i1e(t)) / float(i0e(t)) - ratio

    hi = 2.0 * ratio + 1.0
    while slope(hi) < 0.0:
        hi *= 2.0
    t = brentq(slope, 0.0, hi, xtol=1e-12, rtol=1e-12)
    best = min(-t * c + n * (math.log(float(i0e(t))) + t), -c * c / n)
    return math.exp(best) if best > -745 else 0.0


def as_stage(value: Stage | str) -> Stage:
    """``value`` as a :class:`Stage`.

    Raises:
        ValueError: not a stage's name (the message lists them).
    """
    try:
        return Stage(value)
    except ValueError:
        known = ", ".join(s.value for s in Stage)
        raise ValueError(f"unknown stage {value!r}; expected one of {known}") from None


@dataclass(frozen=True)
class FalsePositiveBound:
    """The bound of one design (see the module doc).

    Attributes:
        n_sync: sync lines; a sync score ``z`` is their phase correlation over sqrt(n_sync).
        crc_bits: the CRC's width.
        alpha: the false-positive probability a read stays within.
        n_hypotheses: alignments of the candidate stage (lattice candidates x symmetries x
            cyclic shifts).
        n_refined_hypotheses: alignments the refined stage may test.
        n_scan_hypotheses: alignments the scan stage may test.
        refine_share: share of ``alpha`` given to the refined stage.
        scan_share: share of ``alpha`` given to the scan.
        max_decodes: the most words one read checks against the CRC.
    """

    n_sync: int
    crc_bits: int
    alpha: float
    n_hypotheses: int
    n_refined_hypotheses: int
    n_scan_hypotheses: int
    refine_share: float
    scan_share: float
    max_decodes: int

    def sync_bound(self, z: float, stage: Stage = Stage.CANDIDATES) -> float:
        """Weighted union bound of :func:`phase_tail_bound` for one decoding stage (not
        capped at 1); the stages together stay within ``alpha``."""
        count, share = self._count_and_share(as_stage(stage))
        tail = phase_tail_bound(z * math.sqrt(self.n_sync), self.n_sync)
        return count * tail / share

    def _count_and_share(self, stage: Stage) -> tuple[int, float]:
        if stage is Stage.CANDIDATES:
            return self.n_hypotheses, 1.0 - self.refine_share - self.scan_share
        if stage is Stage.REFINED:
            return self.n_refined_hypotheses, self.refine_share
        return self.n_scan_hypotheses, self.scan_share

    def p_sync(self, z: float, stage: Stage = Stage.CANDIDATES) -> float:
        """:meth:`sync_bound`, capped at 1."""
        return min(1.0, self.sync_bound(z, stage))

    def p_present(self, z: float, stage: Stage = Stage.CANDIDATES, words: int = 1) -> float:
        """Bound on the false-positive probability when one of ``words`` words decoded at
        sync score ``z`` passes the CRC: a word decoded from an unmarked image is uniform,
        so it passes with probability ``2^-crc_bits``, times ``words`` times the stage's
        sync bound (not capped at 1) or, if smaller, the number of words a read checks
        (:attr:`max_decodes`)."""
        crc_p = 2.0**-self.crc_bits
        return crc_p * min(words * self.sync_bound(z, stage), float(self.max_decodes))

    def thresholds(self) -> dict[str, float]:
        """The sync scores (phase correlation / sqrt(n)) at which the bound reaches
        ``alpha``: with a valid CRC (``present``) and without (``damaged``), for the
        candidate lattices, (``*_refined``) the refined stage and (``*_scan``) the scan; 0
        where a valid CRC is enough on its own."""
        alpha = self.alpha

        def solve(bound: Callable[[float], float]) -> float:
            if bound(0.0) <= alpha:
                return 0.0
            lo, hi = 0.0, math.sqrt(self.n_sync)
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if bound(mid) <= alpha else (mid, hi)
            return hi

        out = {}
        for stage in Stage:
            suffix = "" if stage is Stage.CANDIDATES else f"_{stage.value}"
            out[f"present{suffix}"] = solve(partial(self.p_present, stage=stage))
            out[f"damaged{suffix}"] = solve(partial(self.p_sync, stage=stage))
        return out
