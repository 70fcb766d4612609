"""synthmark's own watermark: a keyed, periodic, band-limited luminance pattern.

**Pattern.** At a working resolution whose short side is at most 512 px the mark is one
period ("cell") repeated on a square lattice, turned by atan(1/2) = 26.57 degrees so that
its lattice is not the axis-aligned grid of JPEG blocks. With ``a = step`` the lattice is
spanned by ``(2a, a)`` and ``(-a, 2a)`` (period ``a * sqrt(5)``, 76.0 px for ``a = 34``;
images under 512 px, marked at their own size, use ``a = 28``, 62.6 px), so the pattern
is exactly periodic on the pixel grid with a ``5a x 5a`` super-period and is built by one
inverse FFT. Inside the cell it is a sum of cosines at integer cell
frequencies ``k`` with ``k_low <= |k| <= k_high`` (about 0.04-0.20 cycles per working
pixel, which JPEG q50, blur and a 0.5x resize leave alive; WebP q50's 4x4 transform keeps
the lower part of that band much better than the upper, hence the low-weighted lines and
the fairly long period). A keyed split makes
``n_sync`` of them a synchronisation component with keyed phases; the others carry the
coded payload in QPSK around keyed carrier phases. Large images get the working-resolution
pattern upsampled, so the period scales with the image.

**Embedding.** The luminance change ``d`` is added to R, G and B, half of the way from
equal amounts to amounts in proportion to the luma weights (``colour_mix``: for the same
PSNR and SSIM, which count every channel, the luminance change can be 0.92 dB stronger, at
the cost of a faint colour in the change; the decoder reads luminance only); a grey image,
R = G = B at every pixel, gets equal amounts and stays grey. It is shaped by a mask (none
near black or white, where it would clip, and less in bright areas, which a brightness
gain saturates first; texture may get more, see ``mask_gamma``; three quarters of it go to
the centred half of the image, which crops keep, see ``centre_boost``) and its strength is
the largest that keeps both the PSNR and a predicted SSIM on target (the SSIM model, per
RGB channel and with the local variance of the change, is mostly accurate to about 0.0005,
but it works at half resolution and has overestimated sharp text's SSIM by 0.0016, so it
aims at ``target_ssim`` = 0.9822). The lines' amplitudes may follow ``|k|^tilt``, chosen
per image (the decoder needs no knowledge of it: sync is phase-only and the soft bits are
weighted by a per-ring SNR measured from the sync lines): ``line_tilt`` where the SSIM
bound limits the strength (smooth images, for which low lines cost less SSIM and survive
WebP best), ``texture_tilt`` where only the PSNR bound does: -0.5 and 0 (equal amplitudes)
by default. On such busy images a second mask that also follows the decoder's weights,
which favour quiet areas, is tried and kept when it gives the decoder more signal
(``quiet_power``). The embedder knows the host, so it also subtracts a share ``iss`` of
the host's own content at the pattern's frequencies (improved spread spectrum, Malvar and
Florencio 2003): the decoder then sees much less host interference.

**Decoding** never needs the original or its size. The image is scaled to a short side of
512, whitened, and candidate lattices are read off its spectrum
(:mod:`synthmark.watermark.lattice`), which undoes crop, scale, rotation and mirroring.
Folding the image onto one cell and a phase-only correlation of its spectrum with the
keyed sync lines, under the 8 symmetries of the square lattice and ``shift_grid^2``
cyclic shifts, give the alignment. When no candidate gives a valid payload but the best
reaches a sync score of ``refine_gate``, a keyed local search turns and scales that
lattice on a fixed fine grid (the keyless search is good to about half a degree, which
loses a weak mark's upper lines at the image's edges). When that fails too, a keyed scan
scores every period at the nominal angle (a crop or resize) and every angle at the nominal
period (a rotation) by the sync lines of the image's own zero-padded spectrum, aligns the
best two and refines the better one: it finds the lattice of an unmirrored image whose
mark is too weak for the keyless search. The payload lines are then read as soft bits, weighted
by a per-frequency SNR estimated from the sync lines, and decoded by Viterbi
(:mod:`synthmark.watermark.ecc`); a CRC-24 tells a valid decode. When no alignment's word
passes it, the best alignment's next ``list_size - 1`` most likely words are tried (list
Viterbi).

**False positives.** For an image that does not carry this key's mark, the sync phases
are independent and uniform (and independent of everything the lattice search looked at),
so the phase-only correlation ``C`` of the ``n`` sync lines at one hypothesis is a sum of
``n`` independent ``cos(uniform)``; :func:`phase_tail_bound` bounds its tail by Chernoff,
``min_t exp(-t c) I0(t)^n <= exp(-c^2 / n)``. A union bound over every hypothesis the
decoder may test (:attr:`TiledScheme.n_hypotheses`: lattice candidates x 8 symmetries x
``shift_grid^2`` shifts) gives the sync p-value, divided by the stage's weight:
``1 - refine_share - scan_share`` for the candidates, ``refine_share`` for the refined
stage, whose count (:attr:`TiledScheme.n_refined_hypotheses`) is every candidate times its
whole grid, so that choosing where to climb by the keyed score costs nothing, and
``scan_share`` for the scan, whose count (:attr:`TiledScheme.n_scan_hypotheses`) is every
scanned lattice times the same grid (weighted Bonferroni: the stages together stay within
``alpha``). The carrier phases are independent of
the sync phases, so the decoded 88-bit word is uniform (the soft values are symmetric under
any sign flip and Viterbi decoding is equivariant) and passes the CRC-24 with probability
2^-24 whatever the sync found. When every alignment's word fails the CRC, the best
alignment's next ``list_size - 1`` most likely words (list Viterbi) are checked too; each
is uniform by the same symmetry (the list decoder is equivariant as well). A read so
checks at most :attr:`TiledScheme.max_decodes` words (16: one per lattice candidate, the
refined alignment's, the scan's and the list's 4), so a valid CRC alone bounds the
false-positive probability by 16 * 2^-24 = 9.5e-7, within ``alpha`` (1e-6) whatever the
sync score: ``present`` requires a valid CRC, and the p-value reported is
``2^-24 * min(w * p_sync, 16)`` for a word found among ``w`` words of one alignment (1,
or ``list_size`` for the list; ``p_sync`` not capped at 1 here), which a strong sync makes
far smaller. A payload is decoded only from a sync score of ``decode_gate`` up, which saves
time and does not touch the bound. ``damaged`` means ``p_sync <= alpha`` on its own, but
the CRC fails. :meth:`TiledScheme.thresholds` turns this into sync scores: 0 for
``present`` (with a 16-bit CRC it would be 3.98, and 4.66 and 4.99 in the later stages),
4.99 for ``damaged`` (5.49 in the refined stage, 5.74 in the scan).
These bounds are over the choice of key: they hold for any fixed image.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray
from PIL import Image

from synthmark.errors import KeyMissing, UsageError, WatermarkError
from synthmark.watermark.base import Readout, WatermarkScheme, WatermarkStatus
from synthmark.watermark.ecc import ConvCode, bits_to_bytes, bytes_to_bits, crc16, crc24
from synthmark.watermark.lattice import (
    Lattice,
    LatticeSearch,
    Smoother,
    find_lattices,
    fold,
    line_frequencies,
    residual,
)

__all__ = ["TileDesign", "TiledScheme", "phase_tail_bound"]

_LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_LUMA = np.array(_LUMA_WEIGHTS, np.float32)
# The 8 symmetries of the square lattice, as integer maps of cell frequencies.
_D4 = [
    np.array(m)
    for m in (
        [[1, 0], [0, 1]],
        [[0, -1], [1, 0]],
        [[-1, 0], [0, -1]],
        [[0, 1], [-1, 0]],
        [[1, 0], [0, -1]],
        [[-1, 0], [0, 1]],
        [[0, 1], [1, 0]],
        [[0, -1], [-1, 0]],
    )
]
#: the decoding stages, each with its own share of ``alpha`` (:meth:`TiledScheme._p_sync`)
_STAGES = ("candidates", "refined", "scan")
#: the CRCs a design may use, by width
_CRCS = {16: crc16, 24: crc24}
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


@dataclass(frozen=True)
class TileDesign:
    """Every constant of the scheme. Changing one changes the mark: keep the defaults."""

    #: lattice step: the period is ``step * sqrt(5)`` working pixels. A larger step lowers
    #: the band, which helps WebP q50, but leaves fewer periods in a crop: 28 -> 34 (with
    #: ``mask_gamma`` 0) took WebP q50 at 512 px from 75% to 93% exact; 36 lost rotations
    #: (n=100, see benchmarks/watermark_bench.py)
    step: int = 34
    #: the step for images whose short side is under ``work_short`` (marked at their own
    #: size): there a long period leaves too few periods to fold, and 34 failed to read
    #: back from about 5% of unattacked 256 px images
    small_step: int = 28
    work_short: int = 512
    k_low: float = 3.2
    k_high: float = 15.0
    n_sync: int = 64
    grid: int = 64
    shift_grid: int = 128
    target_psnr: float = 40.1
    min_psnr: float = 40.02
    #: where only the PSNR bound binds but the marked image's PSNR ends more than this
    #: (dB) above ``target_psnr``, the change is scaled up once (see :meth:`embed`)
    psnr_slack: float = 0.3
    #: the SSIM model's target, 0.0022 above the 0.98 required: the model works at half
    #: resolution, which smooths the local variance of sharp detail, and on a poster of
    #: text with the centre emphasis it predicted 0.9815 where the image measured 0.9799
    #: (the largest error in 1,200 images; 0.9822 left every image at 0.9807 or more)
    target_ssim: float = 0.9822
    #: busy images, where only the PSNR bound binds: a mask that also grows as the
    #: decoder's weight (which favours quiet areas) to this power, capped at ``quiet_cap``
    #: times its mean, is tried (0: off). It is kept if the decoder's correlation with the
    #: pattern, over the whole image and over its centre half, grows by ``quiet_gain`` or
    #: more, and the SSIM bound leaves it at least ``quiet_min_scale`` of the PSNR
    #: budget's amplitude. Under 1 in 10 images at 512 px; in a 1024 px, 300-image run it
    #: read back 3 of the 6 busy images a 50% crop had lost (watermark_bench.py)
    quiet_power: float = 1.0
    quiet_cap: float = 3.0
    quiet_gain: float = 1.05
    quiet_min_scale: float = 0.8
    #: texture masking: the mask grows as (local activity + floor)^gamma. 0 (off) spreads
    #: the change evenly, so smooth areas, which WebP keeps best, carry their share; with
    #: the SSIM model bounding the strength, 0.3 gave 18 points less after WebP q50
    mask_gamma: float = 0.0
    mask_floor: float = 1.0
    #: above this channel value the mask falls linearly, to ``bright_floor`` at 255:
    #: a brightness gain saturates these pixels first, erasing whatever they carry
    bright_knee: float = 170.0
    bright_floor: float = 0.2
    #: line amplitudes ``(|k| / k_high)^tilt``: ``line_tilt`` where the SSIM bound limits
    #: the strength, ``texture_tilt`` where only the PSNR bound does (see the module doc).
    #: with step 34 (n=100): 0 gave WebP q50 at 512 px 93% exact and crop 50% at 1024 px
    #: 98%; -0.5 96% and 98%; -1 97% and 97%
    line_tilt: float = -0.5
    texture_tilt: float = 0.0
    #: how the luminance change is split over R, G and B (:attr:`channel_gains`): 0 adds
    #: it equally (grey), 1 in proportion to the luma weights, the split with the least
    #: squared change in RGB (so PSNR and SSIM, which count R, G and B, allow a 1.27 dB
    #: stronger luminance change) but a coloured one; 0.5 gains 0.92 dB (62 images, 18
    #: attacks at 512 px: 8 failed reads instead of 15, WebP q50 1 instead of 5, while
    #: 1 gave 7) and raises the mean colour difference CIEDE2000 from 0.46 to 0.77
    #: (1: 1.21; benchmarks/watermark_colour.py). The decoder reads luminance only, so it
    #: does not depend on this.
    colour_mix: float = 0.5
    #: crops keep the centre, so the change is stronger there: amplitudes sqrt(1 + b)
    #: in the centred rectangle of half the image's area and sqrt(1 - b) outside it (the
    #: mean square over the image stays the PSNR budget), ramped over ``centre_ramp`` of
    #: a side. At 0.5 the centre half holds 3/4 of the change (its own PSNR is 1.8 dB
    #: under the whole image's where the mask is even; 1.5 dB on average over the
    #: benchmark's images, 38.0 dB at worst). n=300 (benchmarks/watermark_bench.py): a 50%
    #: centre crop read 99.0 -> 99.3% at 512 px and 98.7 -> 99.0% at 1024 px (0.3: no change),
    #: with every other attack as before and no loss on corner crops (see docs/watermark.md)
    centre_boost: float = 0.5
    centre_ramp: float = 0.1
    iss: float = 0.5
    iss_budget: float = 0.35
    highpass_sigma: float = 3.0
    #: residual weights ``1 / (E^p + floor)`` of the local energy ``E``
    #: (:func:`~synthmark.watermark.lattice.residual`); 1.5 with the bright-area mask raised
    #: the exact rate after WebP q50 at 512 px from 66% to 73% (benchmarks/watermark_bench.py)
    weight_power: float = 1.5
    payload_bits: int = 64
    #: the CRC that tells a valid decode: 16 (CRC-16/CCITT) or 24 (CRC-24/OpenPGP) bits
    crc_bits: int = 24
    #: a payload is decoded only from this sync score up (a decode costs about 1 ms, and
    #: an unmarked image's alignments mostly score 2.5-3.5; the false-positive bound holds
    #: whichever alignments are decoded)
    decode_gate: float = 3.0
    #: when no alignment gives a valid word, the best one's ``list_size`` most likely
    #: words are checked (list Viterbi), if its sync score reaches ``list_gate``
    list_size: int = 5
    list_gate: float = 3.5
    code_polys: tuple[int, ...] = (0o557, 0o663, 0o711)
    code_constraint: int = 9
    alpha: float = 1e-6
    search: LatticeSearch = field(default_factory=LatticeSearch)
    #: the keyed local search (:meth:`TiledScheme._refine`) runs when the best candidate
    #: lattice reaches this sync score without a valid payload (about 3% of unmarked images)
    refine_gate: float = 3.6
    #: its grid: ``+-refine_angle_steps`` steps of ``refine_angle_step`` degrees by
    #: ``+-refine_scale_steps`` steps of ``refine_scale_step`` in scale
    refine_angle_step: float = 0.1
    refine_angle_steps: int = 6
    refine_scale_step: float = 0.002
    refine_scale_steps: int = 5
    #: share of ``alpha`` given to the refined alignments (weighted Bonferroni)
    refine_share: float = 0.1
    #: keyed scan (:meth:`TiledScheme._scan`), the last stage: the sync score of the
    #: lattice at the nominal angle, for every period from the nominal one to the search's
    #: longest in relative steps of ``scan_step``, and at the nominal period for every
    #: angle within the largest rotation, read off one zero-padded FFT (about 8 ms at
    #: 512 px). It covers a crop, with or without a resize, or a rotation of an image that
    #: was not mirrored, when the mark is too weak for the keyless search to find its
    #: lattice. The ``scan_top`` best are aligned exactly, and the better one refined as
    #: above when it reaches ``scan_gate``.
    scan_step: float = 0.006
    #: the angle step of the scan's second family: every angle within the search's largest
    #: rotation at the nominal period (a rotation the keyless search misses)
    scan_angle_step: float = 0.25
    scan_shift_grid: int = 64
    scan_top: int = 2
    #: the scan's best is refined from this sync score: of 80 unmarked images none
    #: reached 3.7, and the marks it found scored 4.8-5.5 before refinement
    scan_gate: float = 4.2
    #: share of ``alpha`` given to the scan's refined alignments
    scan_share: float = 0.05

    def step_for(self, short: int) -> int:
        """The lattice step for an image whose short side is ``short`` pixels."""
        return self.step if short >= self.work_short else self.small_step

    @property
    def channel_gains(self) -> tuple[float, float, float]:
        """The change in R, G and B per unit of luminance change (``colour_mix`` of the way
        from equal to ``luma / |luma|^2``); their luma-weighted sum is 1."""
        luma = np.array(_LUMA_WEIGHTS)
        g = (1.0 - self.colour_mix) + self.colour_mix * luma / float(luma @ luma)
        return (float(g[0]), float(g[1]), float(g[2]))


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


def _keyed_rng(key: bytes, label: str) -> np.random.Generator:
    digest = hmac.new(key, f"synthmark/tiled/v1/{label}".encode(), hashlib.sha256).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


def _luma(image: Image.Image) -> NDArray[np.float32]:
    return np.asarray(image, dtype=np.float32) @ _LUMA


#: the headroom mask by a pixel's distance from 0 or 255 (see :func:`_headroom`)
_HEADROOM_LUT = np.minimum(np.arange(256, dtype=np.float32) / np.float32(6.0), np.float32(1.0))


def _extremes(rgb8: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Each pixel's lowest and highest channel value."""
    # np.minimum chains on uint8, not min(axis=-1) on floats: about 20x faster at 2048 px
    lo = np.minimum(np.minimum(rgb8[..., 0], rgb8[..., 1]), rgb8[..., 2])
    hi = np.maximum(np.maximum(rgb8[..., 0], rgb8[..., 1]), rgb8[..., 2])
    return lo, hi


def _is_grey(rgb8: NDArray[np.uint8]) -> bool:
    """Whether R, G and B are equal at every pixel."""
    return bool(
        np.array_equal(rgb8[..., 0], rgb8[..., 1]) and np.array_equal(rgb8[..., 1], rgb8[..., 2])
    )


def _headroom(lo: NDArray[np.uint8], hi: NDArray[np.uint8]) -> NDArray[np.float32]:
    """1 where a pixel's channels (lowest ``lo``, highest ``hi``) are all at least 6 levels
    from 0 and 255, falling linearly to 0 at either end: how much of a luminance change it
    takes without clipping."""
    return np.asarray(_HEADROOM_LUT[np.minimum(lo, 255 - hi)], np.float32)


def _apply(
    full8: NDArray[np.uint8],
    delta: NDArray[np.float32],
    floor_ms: float,
    gains: tuple[float, float, float],
) -> tuple[NDArray[np.uint8], float]:
    """``full8`` plus the luminance change ``delta`` times each channel's gain, rounded and
    clipped to 8 bits, and its mean squared change over every channel value. In int16,
    three times faster than float arithmetic at 2048 px; the exact (clipped) mean square
    is only computed when the unclipped one, an upper bound, exceeds ``floor_ms``."""
    out = full8.astype(np.int16)
    mse = 0.0
    for c, gain in enumerate(gains):  # one plane at a time: 3x faster than (h, w, 3) at once
        step = delta * np.float32(gain)
        np.rint(step, out=step)
        flat = step.ravel()
        mse += float(flat @ flat) / flat.size / 3.0
        out[..., c] += step.astype(np.int16)
    np.clip(out, 0, 255, out=out)
    if mse > floor_ms:
        change = (out - full8).astype(np.float32).ravel()
        mse = float(change @ change) / change.size
    return out.astype(np.uint8), mse


def _upsample(a: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    """Bicubic upsampling of a float image to ``size`` (width, height), with OpenCV: 20-30x
    faster than Pillow's "F" mode at 512 -> 2048 px (about 1 ms on one core)."""
    import cv2  # imported here: only images over the working resolution need it

    return np.asarray(cv2.resize(a, size, interpolation=cv2.INTER_CUBIC), np.float32)


#: Gaussian sigma, in half-resolution pixels, that after a 2x2 mean makes up SSIM's
#: sigma-1.5 window: 0.25 + 4 s^2 = 1.5^2
_HALF_SIGMA = math.sqrt(0.5)
#: the side of a centred square of half an image's area, relative to the image's side
_HALF_SIDE = math.sqrt(0.5)


def _centre_profile(shape: tuple[int, int], boost: float, ramp: float) -> NDArray[np.float32]:
    """Mask factor ``sqrt(1 + boost)`` in the centred rectangle of half the area of an
    image of ``shape`` (rows, columns), ``sqrt(1 - boost)`` outside, ramped linearly over
    ``ramp`` of each side across the rectangle's edges (see ``TileDesign.centre_boost``)."""
    inside, outside = math.sqrt(1.0 + boost), math.sqrt(1.0 - boost)
    axes = []
    for n in shape:
        x = np.abs(np.arange(n, dtype=np.float32) + 0.5 - n / 2) / n
        axes.append(np.clip((_HALF_SIDE / 2 - x) / ramp + 0.5, 0.0, 1.0))
    box = axes[0][:, None] * axes[1][None, :]
    return np.asarray(outside + (inside - outside) * box, np.float32)


def _half(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """Means over 2x2 blocks of the last two axes (an odd last row or column is dropped)."""
    h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
    b = np.asarray(a[..., :h, :w], np.float32)
    rows = b[..., 0::2, :] + b[..., 1::2, :]
    out = rows[..., 0::2] + rows[..., 1::2]
    out *= np.float32(0.25)
    return out


@dataclass
class _SsimModel:
    """Host statistics in the SSIM window at half resolution, per RGB channel."""

    smoother: Smoother
    #: ``2 var_c + C2``
    base: NDArray[np.float32]
    #: ``2 mu_c^2 + C1``
    lum_den: NDArray[np.float32]
    #: each channel's squared gain (:attr:`TileDesign.channel_gains`), shaped (3, 1, 1)
    gains2: NDArray[np.float32]


def _hermitian_half(
    shape: tuple[int, int], lines: NDArray[np.int_], values: NDArray, dtype: type
) -> NDArray:
    """``shape[0]`` planes of ``shape[1] x shape[1]`` frequencies holding half of ``values``
    (one row per plane) at ``lines`` and half their conjugates at ``-lines``, cut to the half
    that :func:`scipy.fft.irfft2` reads: its result is the real part of the inverse FFT of
    the ``values`` alone, at half the cost."""
    n, side = shape
    half = side // 2 + 1
    planes: NDArray = np.zeros((n, side, half), dtype)
    values = 0.5 * values
    for (rows, cols), vals in (((lines % side).T, values), ((-lines % side).T, np.conj(values))):
        keep = cols < half  # the lines differ modulo side, so no index repeats in one pass
        planes[:, rows[keep], cols[keep]] += vals[:, keep]
    return planes


@dataclass
class _Alignment:
    lattice: Lattice
    z: float
    symmetry: int
    shift: tuple[float, float]
    spectrum: NDArray[np.complex128]


class TiledScheme(WatermarkScheme):
    """synthmark's keyed watermark (registry name ``synthmark``); 64-bit payload.

    Args:
        key: the secret key (at least 16 bytes; see :mod:`synthmark.watermark.keys`).
        design: the scheme's constants (keep the default).
    """

    name = "synthmark"
    needs_key = True
    min_side = 256
    #: the shortest side :meth:`extract` accepts
    min_read_side = 128

    def __init__(self, key: bytes | None, design: TileDesign | None = None) -> None:
        if key is None:
            raise KeyMissing(
                "scheme 'synthmark' needs a key: run `synthmark watermark keygen` "
                "or pass key=load_key(settings)"
            )
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            raise UsageError("a synthmark key must be at least 16 bytes")
        self._key = bytes(key)
        self.design = design or TileDesign()
        if self.design.crc_bits not in _CRCS:
            raise ValueError(f"crc_bits must be one of {sorted(_CRCS)}, got {self.design.crc_bits}")
        self.payload_bits = self.design.payload_bits
        self._code = ConvCode(self.design.code_polys, self.design.code_constraint)

    def __repr__(self) -> str:  # never show the key
        return f"TiledScheme(payload_bits={self.payload_bits})"

    def fallbacks(self) -> list[WatermarkScheme]:
        """The same mark without the bright-pixel mask (``bright_floor`` 1): on images
        that are mostly near black or white the default leaves too few pixels to carry a
        readable mark (about 1 in 150 at 512 px, 1 in 40 at 256 px), and half of those
        read back this way, with less margin against a brightness gain. The decoder does
        not depend on the mask."""
        if self.design.bright_floor >= 1.0:
            return []
        return [TiledScheme(self._key, replace(self.design, bright_floor=1.0))]

    # ------------------------------------------------------------------ keyed layout
    @cached_property
    def _layout(self) -> dict[str, Any]:
        d = self.design
        span = math.ceil(d.k_high)
        g1, g2 = np.meshgrid(np.arange(-span, span + 1), np.arange(-span, span + 1))
        k1, k2 = g1.ravel(), g2.ravel()
        radius = np.hypot(k1, k2)
        keep = (radius >= d.k_low) & (radius <= d.k_high) & ((k2 > 0) | ((k2 == 0) & (k1 > 0)))
        lines = np.stack([k1[keep], k2[keep]], 1)
        perm = _keyed_rng(self._key, "split").permutation(len(lines))
        sync = lines[perm[: d.n_sync]]
        data = lines[perm[d.n_sync :]]
        n_info = d.payload_bits + d.crc_bits
        n_coded = self._code.coded_length(n_info)
        n_dims = 2 * len(data)
        if n_dims < n_coded:
            raise ValueError(f"design has {n_dims} data dimensions, needs {n_coded}")
        dim_to_coded = _keyed_rng(self._key, "interleave").permutation(np.arange(n_dims) % n_coded)
        return {
            "sync": sync,
            "data": data,
            "psi": _keyed_rng(self._key, "sync-phase").uniform(0, 2 * np.pi, len(sync)),
            "theta": _keyed_rng(self._key, "carrier-phase").uniform(0, 2 * np.pi, len(data)),
            "dim_to_coded": dim_to_coded,
            "n_info": n_info,
            "n_coded": n_coded,
        }

    def _crc(self, bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return _CRCS[self.design.crc_bits](bits)

    def _line_bins(
        self, lines: NDArray[np.int_], sp: int
    ) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
        """Row and column of each cell frequency in the ``sp x sp`` (``sp = 5a``)
        super-period spectrum."""
        fx = (2 * lines[:, 0] - lines[:, 1]) % sp
        fy = (lines[:, 0] + 2 * lines[:, 1]) % sp
        return fy, fx

    # ------------------------------------------------------------------ embedding
    def _symbols(self, payload: bytes) -> NDArray[np.complex128]:
        lay = self._layout
        bits = bytes_to_bits(payload)[: self.payload_bits]
        coded = self._code.encode(np.concatenate([bits, self._crc(bits)]))
        dims = 1.0 - 2.0 * coded[lay["dim_to_coded"]].astype(np.float64)
        return (dims[0::2] + 1j * dims[1::2]) / math.sqrt(2.0)

    def _amplitude(self, lines: NDArray[np.int_], tilt: float) -> NDArray[np.float64]:
        """Relative amplitude of each line: ``(|k| / k_high)^tilt``."""
        radius = np.hypot(lines[:, 0], lines[:, 1])
        return np.asarray((radius / self.design.k_high) ** tilt, np.float64)

    def _mask(
        self, y: NDArray[np.float32], rgb8: NDArray[np.uint8], sm: Smoother, spec: NDArray
    ) -> NDArray[np.float32]:
        """Where the change may go: none where it would clip, less in bright pixels (and more
        in texture if ``mask_gamma`` > 0)."""
        d = self.design
        if d.mask_gamma:
            hp = y - sm.blur(y, 1.0, spec)
            activity = np.sqrt(np.maximum(sm.blur(hp * hp, 3.0), 0.0))
            mask = (activity + np.float32(d.mask_floor)) ** np.float32(d.mask_gamma)
            np.minimum(mask, np.float32(4.0 * float(mask.mean())), out=mask)
        else:
            mask = np.ones(y.shape, np.float32)
        lo, hi = _extremes(rgb8)
        mask *= _headroom(lo, hi)
        if d.bright_floor < 1.0:
            t = (hi.astype(np.float32) - np.float32(d.bright_knee)) / np.float32(
                255.0 - d.bright_knee
            )
            np.clip(t, 0.0, 1.0, out=t)
            mask *= np.float32(1.0) - np.float32(1.0 - d.bright_floor) * t
        return mask

    def embed(self, image: Image.Image, payload: bytes) -> Image.Image:
        """Return a marked copy of ``image``.

        Raises:
            ImageTooSmall: the short side is under :attr:`min_side`.
            UsageError: the payload is not 8 bytes.
            WatermarkError: the image cannot hold the mark (e.g. almost entirely black
                or white, so nothing can change without clipping).
        """
        payload = self._check_payload(payload)
        image = self._check_image(image)
        d = self.design
        lay = self._layout
        full8 = np.asarray(image)
        h, w = full8.shape[:2]
        scale = min(1.0, d.work_short / min(h, w))
        ww, wh = max(1, round(w * scale)), max(1, round(h * scale))
        small = (
            image
            if scale >= 1.0
            else image.resize((ww, wh), Image.Resampling.BILINEAR, reducing_gap=2.0)
        )
        rgb8 = np.asarray(small)
        y = _luma(small)
        sm = Smoother(y.shape)
        y_spec = sm.spectrum(y)
        mask = self._mask(y, rgb8, sm, y_spec)
        if d.centre_boost:
            mask *= _centre_profile((wh, ww), d.centre_boost, d.centre_ramp)
        if float(np.mean(mask > 0.05)) < 0.05:
            raise WatermarkError(
                f"image {w}x{h} has almost no pixels that can change without clipping "
                "(nearly all black or white); cannot embed a robust mark"
            )
        sp = 5 * d.step_for(min(h, w))
        reps = (wh // sp + 1, ww // sp + 1)
        fys, fxs = self._line_bins(lay["sync"], sp)
        fyd, fxd = self._line_bins(lay["data"], sp)
        symbols = self._symbols(payload) * np.exp(1j * lay["theta"])

        def periodic(spec: NDArray[np.complex128]) -> NDArray[np.float32]:
            """The super-period with spectrum ``spec``, tiled over the working image."""
            return np.tile(sfft.ifft2(spec).real.astype(np.float32), reps)[:wh, :ww]

        tiled: dict[float, NDArray[np.float32]] = {}

        def pattern(tilt: float) -> NDArray[np.float32]:
            """The unmasked pattern with line tilt ``tilt``."""
            if tilt not in tiled:
                spec = np.zeros((sp, sp), np.complex128)
                spec[fys, fxs] = np.exp(1j * lay["psi"]) * self._amplitude(lay["sync"], tilt)
                spec[fyd, fxd] = symbols * self._amplitude(lay["data"], tilt)
                tiled[tilt] = periodic(spec)
            return tiled[tilt]

        # Host content at the pattern's lines, as the decoder will measure it.
        r, wt = residual(y, d.highpass_sigma, sm, y_spec, d.weight_power)
        padded = np.zeros((reps[0] * sp, reps[1] * sp), np.float32)
        padded[:wh, :ww] = r * wt
        folded = padded.reshape(reps[0], sp, reps[1], sp).sum(axis=(0, 2))
        host = sfft.fft2(folded)
        cancel = np.zeros((sp, sp), np.complex128)
        cancel[fys, fxs] = host[fys, fxs]
        cancel[fyd, fxd] = host[fyd, fxd]
        host_lines = periodic(cancel)
        sum_w = float(wt.sum())
        # A grey image (R = G = B everywhere) gets a grey change, so that it stays grey.
        grey = _is_grey(rgb8) and (rgb8 is full8 or _is_grey(full8))
        gains = (1.0, 1.0, 1.0) if grey else d.channel_gains
        # The PSNR counts every channel: the luminance change's mean square is the target
        # over the mean squared gain.
        power = float(np.mean(np.square(gains)))
        target_full = 255.0**2 / 10 ** (d.target_psnr / 10.0)
        target_ms = (target_full - 1.0 / 12.0) / power

        def planner(where: NDArray[np.float32]) -> Callable[[float], NDArray[np.float32]]:
            """The change for a line tilt under the mask ``where``: ``k * signal - lam *
            against`` (``against`` cancels the host at the pattern's lines), with its mean
            square on the PSNR target."""
            gain = float((wt * where).sum()) / sum_w
            against = host_lines * where
            against *= np.float32(2.0 * sp * sp / (gain * sum_w))
            c = float(np.mean(against * against))
            lam = d.iss
            if lam * lam * c > d.iss_budget * target_ms:
                lam = math.sqrt(d.iss_budget * target_ms / c)

            def change(tilt: float) -> NDArray[np.float32]:
                signal = pattern(tilt) * where
                a = float(np.mean(signal * signal))
                b = float(np.mean(signal * against))
                disc = max(lam * lam * b * b - a * (lam * lam * c - target_ms), 0.0)
                k = (lam * b + math.sqrt(disc)) / a
                return np.asarray(k * signal - lam * against, np.float32)

            return change

        # Tilt towards low lines; if the SSIM bound does not bind even then, the image is
        # busy enough that the upper lines serve it as well (texture_tilt).
        ssim_model = self._ssim_model(rgb8, gains)
        change = planner(mask)
        delta = change(d.line_tilt)
        t = self._ssim_scale(ssim_model, delta)
        if t >= 1.0 and d.texture_tilt != d.line_tilt:
            delta = change(d.texture_tilt)
            t = self._ssim_scale(ssim_model, delta)
        if t >= 1.0 and d.quiet_power:
            # Only the PSNR bound binds: try moving energy to where the decoder listens
            # (quiet areas, which it weights most), kept if the decoder then sees more of
            # the pattern, in the whole image and in its centre half (a crop).
            rel = wt / np.float32(float(np.mean(wt[mask > 0.05])))
            quiet = mask * np.minimum(rel ** np.float32(d.quiet_power), np.float32(d.quiet_cap))
            alt = planner(quiet)(d.texture_tilt)
            t_alt = self._ssim_scale(ssim_model, alt)
            ref = pattern(d.texture_tilt) * wt
            ch, cw = round(wh * _HALF_SIDE), round(ww * _HALF_SIDE)  # a crop to half the area
            inner = np.s_[(wh - ch) // 2 : (wh + ch) // 2, (ww - cw) // 2 : (ww + cw) // 2]
            seen, seen_alt = delta * ref * np.float32(t), alt * ref * np.float32(t_alt)
            now = (float(seen.sum()), float(seen[inner].sum()))
            then = (float(seen_alt.sum()), float(seen_alt[inner].sum()))
            if (
                t_alt >= d.quiet_min_scale
                and min(now) > 0.0
                and min(b / a for a, b in zip(now, then, strict=True)) >= d.quiet_gain
            ):
                delta, t = alt, t_alt
        delta *= np.float32(t)
        work = delta
        if scale < 1.0:
            delta = _upsample(delta, (w, h))
            # The mask was made at the working resolution, where a dark or bright pixel
            # next to an edge is averaged with its neighbours: keep the upsampled change
            # off the full-resolution pixels that would clip.
            delta = delta * _headroom(*_extremes(full8))
        floor_ms = 255.0**2 / 10 ** (d.min_psnr / 10.0)
        out, mse = _apply(full8, delta, floor_ms, gains)
        if t >= 1.0 and 0.0 < mse * 10 ** (d.psnr_slack / 10.0) < target_full:
            # Only the PSNR bound binds, yet part of its budget went unused: the headroom
            # mask at full resolution and rounding to 8 bits took it (images mostly near
            # black or white). Scale up once, as far as the PSNR target and the SSIM
            # model allow.
            up = math.sqrt(target_full / mse)
            up *= self._ssim_scale(ssim_model, work * np.float32(up))
            if up > 1.0:
                delta = delta * np.float32(up)
                out, mse = _apply(full8, delta, floor_ms, gains)
        if mse > floor_ms:  # rounding pushed the PSNR under its floor: scale down once
            scaled = delta * np.float32(math.sqrt(floor_ms / mse * 0.98))
            out, _ = _apply(full8, scaled, floor_ms, gains)
        return Image.fromarray(out, "RGB")

    def _ssim_model(
        self, rgb8: NDArray[np.uint8], gains: tuple[float, float, float]
    ) -> _SsimModel:
        """Per-channel local statistics of the host, and the channels' gains, for
        :meth:`_ssim_scale`."""
        full = np.moveaxis(rgb8, -1, 0).astype(np.float32)
        x = _half(full)
        x2 = _half(full * full)
        sm = Smoother((x.shape[1], x.shape[2]))
        mu = sm.blur(x, _HALF_SIGMA)
        var_x = np.maximum(sm.blur(x2, _HALF_SIGMA) - mu * mu, 0.0)
        return _SsimModel(
            sm,
            2.0 * var_x + np.float32(_SSIM_C2),
            2.0 * mu * mu + np.float32(_SSIM_C1),
            np.square(np.asarray(gains, np.float32))[:, None, None],
        )

    def _ssim_scale(self, model: _SsimModel, delta: NDArray[np.float32]) -> float:
        """Largest factor <= 1 on ``delta`` that keeps a predicted mean SSIM on target.

        SSIM (:mod:`synthmark.watermark.quality`) is the mean over the R, G and B channels;
        channel ``c`` gets the change ``g_c d`` (:attr:`TileDesign.channel_gains`, or 1 for
        a grey image). For a change independent of the host, its local contrast-structure
        term is about
        ``(2 var_c + C2) / (2 var_c + g_c^2 var_d + 1/12 + C2)`` (Wang et al. 2004), where
        ``var_d`` is the local variance of ``d`` in the SSIM window (not its mean square: a
        slowly varying pattern mostly moves the local mean) and 1/12 that of rounding to
        8 bits; the luminance term costs about ``g_c^2 mean_d^2 / (2 mu_c^2 + C1)``, which
        matters in dark channels. The local statistics are smooth at this window size, so
        they are taken at half resolution (2x2 means, then a Gaussian that makes up the
        window).
        """
        sm = model.smoother
        d = _half(delta)
        mu_d = sm.blur(d, _HALF_SIGMA)
        var_d = np.maximum(sm.blur(_half(delta * delta), _HALF_SIGMA) - mu_d * mu_d, 0.0)
        g2 = model.gains2
        lum = float(np.mean(g2 * (mu_d * mu_d) / model.lum_den))
        base = model.base
        rounding = np.float32(1.0 / 12.0)
        var_c = g2 * var_d

        def predicted(t: float) -> float:
            cs = np.mean(base / (base + np.float32(t * t) * var_c + rounding))
            return float(cs) - t * t * lum

        if predicted(1.0) >= self.design.target_ssim:
            return 1.0
        lo, hi = 0.0, 1.0
        for _ in range(8):
            mid = 0.5 * (lo + hi)
            if predicted(mid) >= self.design.target_ssim:
                lo = mid
            else:
                hi = mid
        return lo

    # ------------------------------------------------------------------ extraction
    def _decode_space(self, image: Image.Image) -> NDArray[np.float32]:
        w, h = image.size
        s = self.design.work_short / min(w, h)
        if abs(s - 1.0) > 1e-9:
            size = (max(1, round(w * s)), max(1, round(h * s)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        return _luma(image)

    @property
    def n_hypotheses(self) -> int:
        """Alignments searched: lattice candidates x 8 symmetries x cyclic shifts."""
        d = self.design
        return d.search.max_candidates(2) * len(_D4) * d.shift_grid**2

    @property
    def _refine_grid_size(self) -> int:
        d = self.design
        return (2 * d.refine_angle_steps + 1) * (2 * d.refine_scale_steps + 1)

    @property
    def n_refined_hypotheses(self) -> int:
        """Alignments the refined stage may test: any candidate x its whole grid x 8
        symmetries x cyclic shifts (a superset of what the local search visits)."""
        return self.n_hypotheses * self._refine_grid_size

    @cached_property
    def scan_lattices(self) -> tuple[tuple[NDArray[np.float64], NDArray[np.float64]], ...]:
        """The keyed scan's two families of (periods, angles in radians), in decode space
        (see ``TileDesign.scan_step``): every period from the nominal one to the longest at
        the nominal angle (a crop or resize), and every angle within the search's largest
        rotation at the nominal period (a rotation)."""
        d = self.design
        nominal = d.step * math.sqrt(5.0)
        angle = math.radians(d.search.nominal_angles[0])
        longest = min(d.search.max_period, d.search.max_period_fraction * d.work_short)
        periods = nominal * np.exp(np.arange(0.0, math.log(longest / nominal), d.scan_step))
        turn = math.radians(d.search.max_rotation)
        angles = angle + np.arange(-turn, turn + 1e-9, math.radians(d.scan_angle_step))
        return (
            (periods, np.full(len(periods), angle)),
            (np.full(len(angles), nominal), angles),
        )

    @property
    def n_scan_hypotheses(self) -> int:
        """Alignments the scan stage may test: any scanned lattice x the refinement grid x
        8 symmetries x cyclic shifts."""
        d = self.design
        n_lattices = sum(len(periods) for periods, _ in self.scan_lattices)
        return n_lattices * self._refine_grid_size * len(_D4) * d.shift_grid**2

    def _nominal_periods(self, size: tuple[int, int]) -> list[float]:
        """Decode-space periods if the image was not cropped: marked at >= 512 px (any
        resize since), or marked at its current size below 512 px."""
        d = self.design
        short = min(size)
        out = [d.step * math.sqrt(5.0)]
        if short < d.work_short:
            out.append(d.small_step * math.sqrt(5.0) * d.work_short / short)
        return out

    def thresholds(self) -> dict[str, float]:
        """The sync scores (phase correlation / sqrt(n)) at which the false-positive bound
        reaches ``alpha``: with a valid CRC (``present``) and without (``damaged``), for
        the candidate lattices, (``*_refined``) the refined stage and (``*_scan``) the
        scan; 0 where a valid CRC is enough on its own."""
        alpha = self.design.alpha

        def solve(bound: Callable[[float], float]) -> float:
            if bound(0.0) <= alpha:
                return 0.0
            lo, hi = 0.0, math.sqrt(self.design.n_sync)
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if bound(mid) <= alpha else (mid, hi)
            return hi

        out = {}
        for stage in _STAGES:
            suffix = "" if stage == "candidates" else f"_{stage}"
            out[f"present{suffix}"] = solve(partial(self._p_present, stage=stage))
            out[f"damaged{suffix}"] = solve(partial(self._p_sync, stage=stage))
        return out

    @property
    def max_decodes(self) -> int:
        """The most words one read checks against the CRC: one per lattice candidate, one
        refined, one from the scan, and the ``list_size - 1`` next words of the best."""
        return self.design.search.max_candidates(2) + 2 + max(self.design.list_size - 1, 0)

    def _p_present(self, z: float, stage: str = "candidates", words: int = 1) -> float:
        """Bound on the false-positive probability when one of ``words`` words decoded at
        sync score ``z`` passes the CRC: a word decoded from an unmarked image is uniform,
        so it passes with probability ``2^-crc_bits``, times ``words`` times the stage's
        sync bound (not capped at 1) or, if smaller, the number of words a read checks
        (:attr:`max_decodes`)."""
        crc_p = 2.0**-self.design.crc_bits
        return crc_p * min(words * self._sync_bound(z, stage), float(self.max_decodes))

    def _p_sync(self, z: float, stage: str = "candidates") -> float:
        """:meth:`_sync_bound`, capped at 1."""
        return min(1.0, self._sync_bound(z, stage))

    def _sync_bound(self, z: float, stage: str = "candidates") -> float:
        """Weighted union bound of :func:`phase_tail_bound` for one decoding stage: over
        :attr:`n_hypotheses` with weight ``1 - refine_share - scan_share`` (``candidates``),
        over :attr:`n_refined_hypotheses` with ``refine_share`` (``refined``), or over
        :attr:`n_scan_hypotheses` with ``scan_share`` (``scan``); the stages together stay
        within ``alpha``."""
        d = self.design
        if stage == "candidates":
            count, share = self.n_hypotheses, 1.0 - d.refine_share - d.scan_share
        elif stage == "refined":
            count, share = self.n_refined_hypotheses, d.refine_share
        elif stage == "scan":
            count, share = self.n_scan_hypotheses, d.scan_share
        else:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(_STAGES)}")
        tail = phase_tail_bound(z * math.sqrt(d.n_sync), d.n_sync)
        return count * tail / share

    def _refine(self, rw: NDArray, wt: NDArray, start: _Alignment) -> _Alignment:
        """Keyed local search around ``start``: the lattice turned and scaled on a fixed
        grid (:class:`TileDesign` ``refine_*``), climbing the sync score, first in steps of
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

        best, here = start, (0, 0)
        seen = {here}
        for stride in (3, 1):
            moved = True
            while moved:
                moved = False
                for di, dj in itertools.product((-stride, 0, stride), repeat=2):
                    pos = (here[0] + di, here[1] + dj)
                    if pos in seen or abs(pos[0]) > span[0] or abs(pos[1]) > span[1]:
                        continue
                    seen.add(pos)
                    al = self._align(rw, wt, lattice_at(pos))
                    if al.z > best.z:
                        best, best_pos, moved = al, pos, True
                if moved:
                    here = best_pos
        return best

    def _scan(self, rw: NDArray, wt: NDArray) -> _Alignment:
        """The keyed scan (see ``TileDesign.scan_step``): every lattice of
        :attr:`scan_lattices` is scored by the phase-only sync correlation of the image's
        own spectrum at its sync frequencies (one zero-padded FFT, nearest bins, identity
        symmetry, a coarse shift grid); of each family's ``scan_top`` best, apart from each
        other, the ``scan_top`` best overall are aligned exactly, and the best alignment is
        returned."""
        d = self.design
        lay = self._layout
        h, w = rw.shape
        big_h, big_w = 2 * h, 2 * w
        spectrum = sfft.rfft2(rw, s=(big_h, big_w))
        sync = lay["sync"]
        key_phase = np.exp(-1j * lay["psi"])
        pg = d.scan_shift_grid
        best: list[tuple[float, NDArray[np.float64]]] = []  # (approximate score, basis)
        for periods, angles in self.scan_lattices:
            fx, fy, sign = line_frequencies(sync, periods, angles)
            iy = np.rint(fy * big_h).astype(np.intp) % big_h
            z = spectrum[iy, np.rint(fx * big_w).astype(np.intp)]
            z = z * np.exp(2j * np.pi * (fx * (w / 2) + fy * (h / 2)))  # phase at the centre
            z = np.where(sign < 0, np.conj(z), z)
            unit = z / (np.abs(z) + 1e-12) * key_phase
            planes = _hermitian_half((len(periods), pg), sync, unit, np.complex64)
            corr = sfft.irfft2(planes, s=(pg, pg), axes=(1, 2))
            score = corr.reshape(len(periods), -1).max(axis=1)
            picked: list[int] = []
            for i in np.argsort(score)[::-1]:
                if len(picked) == d.scan_top:
                    break
                if any(abs(int(i) - j) < 3 for j in picked):  # the same peak
                    continue
                picked.append(int(i))
                ci, si = math.cos(angles[i]), math.sin(angles[i])
                best.append((float(score[i]), periods[i] * np.array([[ci, -si], [si, ci]])))
        best.sort(key=lambda t: t[0], reverse=True)
        aligned = [self._align(rw, wt, Lattice(basis=b, score=z)) for z, b in best[: d.scan_top]]
        return max(aligned, key=lambda al: al.z)

    def _align(self, rw: NDArray, wt: NDArray, lattice: Lattice) -> _Alignment:
        d = self.design
        lay = self._layout
        g, pg = d.grid, d.shift_grid
        spectrum = sfft.fft2(fold(rw, wt, lattice.basis, g))
        sync = lay["sync"]
        rot = np.exp(-1j * lay["psi"])
        # phase only: each line contributes cos(phase error), whatever its magnitude. The
        # correlation over every shift is the real part of an inverse FFT of the lines, i.e.
        # the inverse FFT of their Hermitian part, for which a real transform of half the
        # plane suffices (one batch for the 8 symmetries).
        unit = np.empty((len(_D4), len(sync)), np.complex128)
        for i, m in enumerate(_D4):
            k = sync @ m.T
            z = spectrum[k[:, 0] % g, k[:, 1] % g]
            unit[i] = z / (np.abs(z) + 1e-12) * rot
        planes = _hermitian_half((len(_D4), pg), sync, unit, np.complex128)
        corrs = sfft.irfft2(planes, s=(pg, pg), axes=(1, 2)) * (pg * pg / math.sqrt(len(sync)))
        sym = int(np.argmax(corrs.reshape(len(_D4), -1).max(axis=1)))
        corr = corrs[sym]
        peak = float(corr.max())
        i0, i1 = np.unravel_index(int(np.argmax(corr)), corr.shape)

        def vertex(lo: float, mid: float, hi: float) -> float:
            den = lo - 2 * mid + hi
            return 0.5 * (lo - hi) / den if den < 0 else 0.0

        s0 = i0 + vertex(corr[(i0 - 1) % pg, i1], corr[i0, i1], corr[(i0 + 1) % pg, i1])
        s1 = i1 + vertex(corr[i0, (i1 - 1) % pg], corr[i0, i1], corr[i0, (i1 + 1) % pg])
        return _Alignment(lattice, peak, sym, (float(s0), float(s1)), spectrum)

    def _lines(self, al: _Alignment, lines: NDArray[np.int_], phase: NDArray) -> NDArray:
        g, pg = self.design.grid, self.design.shift_grid
        k = lines @ _D4[al.symmetry].T
        ramp = np.exp(2j * np.pi * (lines[:, 0] * al.shift[0] + lines[:, 1] * al.shift[1]) / pg)
        return al.spectrum[k[:, 0] % g, k[:, 1] % g] * np.exp(-1j * phase) * ramp

    def _soft_bits(self, al: _Alignment) -> tuple[NDArray[np.float64], dict[str, Any]]:
        lay = self._layout
        xs = self._lines(al, lay["sync"], lay["psi"])
        xd = self._lines(al, lay["data"], lay["theta"])
        rs = np.hypot(lay["sync"][:, 0], lay["sync"][:, 1])
        rd = np.hypot(lay["data"][:, 0], lay["data"][:, 1])
        edges = np.linspace(self.design.k_low, self.design.k_high + 1e-6, 5)
        weight = np.zeros(len(xd))
        snr_rings = []
        for lo, hi in itertools.pairwise(edges):
            s_sel = (rs >= lo) & (rs < hi)
            d_sel = (rd >= lo) & (rd < hi)
            if s_sel.sum() < 3:
                continue
            # sync lines: gain (real part) and noise; data dimensions are +-amp plus noise
            gain = max(float(np.mean(xs[s_sel].real)), 0.0)
            resid = xs[s_sel] - gain
            noise_sync = float(np.mean(resid.real**2 + resid.imag**2)) / 2.0
            amp = gain / math.sqrt(2.0)
            y2 = float(np.mean(xd[d_sel].real ** 2 + xd[d_sel].imag ** 2)) / 2.0
            noise_data = max(y2 - amp * amp, 0.25 * noise_sync)
            n_s, n_d = int(s_sel.sum()), 2 * int(d_sel.sum())
            noise = (2 * n_s * noise_sync + n_d * noise_data) / (2 * n_s + n_d) + 1e-12
            weight[d_sel] = 2.0 * amp / noise
            snr_rings.append(round(amp * amp / noise, 3))
        soft_dims = np.empty(2 * len(xd))
        soft_dims[0::2] = xd.real * weight
        soft_dims[1::2] = xd.imag * weight
        llr = np.asarray(np.bincount(lay["dim_to_coded"], soft_dims, lay["n_coded"]), np.float64)
        return llr, {"ring_snr": snr_rings}

    def _checked(self, bits: NDArray[np.uint8]) -> bytes | None:
        """The payload of a decoded information word, or None if its CRC fails."""
        data, check = bits[: self.payload_bits], bits[self.payload_bits :]
        return bits_to_bytes(data) if np.array_equal(self._crc(data), check) else None

    def _decode(
        self, al: _Alignment
    ) -> tuple[bytes | None, dict[str, Any], NDArray[np.float64]]:
        """The payload at ``al`` (None if the CRC fails), diagnostics, and the soft values."""
        lay = self._layout
        llr, info = self._soft_bits(al)
        bits, _ = self._code.decode(llr, lay["n_info"])
        payload = self._checked(bits)
        # Agreement of the soft values with the re-encoded word (1 = every sign agrees).
        recoded = 1.0 - 2.0 * self._code.encode(bits).astype(np.float64)
        agree = float(
            np.sum(np.abs(llr) * (np.sign(llr) == recoded)) / (np.sum(np.abs(llr)) + 1e-12)
        )
        # The decoded bits even when the CRC fails: not vouched for, useful for diagnosis.
        info.update(
            crc_ok=payload is not None,
            agreement=round(agree, 4),
            unverified_payload=bits_to_bytes(bits[: self.payload_bits]).hex(),
        )
        return payload, info, llr

    def extract(self, image: Image.Image) -> Readout:
        """Read the mark. Never raises for an unmarked image: it reads ``absent``.

        Raises:
            ImageTooSmall: the short side is under :attr:`min_read_side`.
        """
        image = self._check_image(image, self.min_read_side)
        d = self.design
        y = self._decode_space(image)
        r, wt = residual(y, d.highpass_sigma, power=d.weight_power)
        rw = r * wt
        lines = np.concatenate([self._layout["sync"], self._layout["data"]])
        lattices = find_lattices(rw, lines, self._nominal_periods(image.size), d.search)
        if not lattices:
            return Readout(
                self.name,
                WatermarkStatus.ABSENT,
                None,
                1.0,
                0.0,
                {"lattice": "no periodic structure found"},
            )
        # (p_sync, alignment, diagnostics and soft values if decoded, stage)
        tried: list[tuple[float, _Alignment, tuple[dict[str, Any], NDArray] | None, str]] = []

        def present(
            al: _Alignment, payload: bytes, p_total: float, info: dict[str, Any], stage: str
        ) -> Readout:
            details = self._details(image, al, self._p_sync(al.z, stage), info)
            return Readout(
                self.name,
                WatermarkStatus.PRESENT,
                payload,
                p_total,
                1.0 - p_total,
                {**details, "stage": stage},
            )

        def attempt(al: _Alignment, stage: str) -> Readout | None:
            p_sync = self._p_sync(al.z, stage)
            decoded = None
            p_total = self._p_present(al.z, stage)
            # only then can a valid CRC make it present
            if p_total <= d.alpha and al.z >= d.decode_gate:
                payload, info, llr = self._decode(al)
                decoded = (info, llr)
                if payload is not None:
                    return present(al, payload, p_total, info, stage)
            tried.append((p_sync, al, decoded, stage))
            return None

        for lattice in lattices:
            found = attempt(self._align(rw, wt, lattice), "candidates")
            if found is not None:
                return found
        top = max(tried, key=lambda t: t[1].z)[1]
        if top.z >= d.refine_gate:
            found = attempt(self._refine(rw, wt, top), "refined")
            if found is not None:
                return found
        scanned = self._scan(rw, wt)
        if scanned.z >= d.scan_gate:
            found = attempt(self._refine(rw, wt, scanned), "scan")
            if found is not None:
                return found
        p_sync, al, decoded, stage = min(tried, key=lambda t: (t[0], -t[1].z))
        if decoded is not None and al.z >= d.list_gate and d.list_size > 1:
            # The best alignment was decoded and failed the CRC: its next most likely
            # words (list Viterbi), each one more CRC check within max_decodes.
            info, llr = decoded
            words = self._code.decode_list(llr, self._layout["n_info"], d.list_size)
            for bits, _ in words[1:]:
                payload = self._checked(bits)
                if payload is not None:
                    p_total = self._p_present(al.z, stage, words=d.list_size)
                    listed = {**info, "crc_ok": True, "unverified_payload": None}
                    return present(al, payload, p_total, {**listed, "list_decoded": True}, stage)
        # for diagnosis only: nothing is vouched for
        info = decoded[0] if decoded is not None else self._decode(al)[1]
        status = WatermarkStatus.DAMAGED if p_sync <= d.alpha else WatermarkStatus.ABSENT
        return Readout(
            self.name, status, None, p_sync, 1.0 - p_sync, self._details(image, al, p_sync, info)
        )

    def _details(
        self, image: Image.Image, al: _Alignment, p_sync: float, info: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "sync_z": round(al.z, 3),
            "p_sync": p_sync,
            "period_px": round(al.lattice.period * min(image.size) / self.design.work_short, 2),
            "angle_deg": round(al.lattice.angle, 2),
            "symmetry": al.symmetry,
            **info,
        }
