"""The scheme's constants (:class:`TileDesign`) and its keyed layout (:class:`Layout`).

**Pattern.** At a working resolution whose short side is at most 512 px the mark is one
period ("cell") repeated on a square lattice, turned by atan(1/2) = 26.57 degrees so that
its lattice is not the axis-aligned grid of JPEG blocks. With ``a = step`` the lattice is
spanned by ``(2a, a)`` and ``(-a, 2a)`` (period ``a * sqrt(5)``, 76.0 px for ``a = 34``;
images under 512 px, marked at their own size, use ``a = 28``, 62.6 px), so the pattern
is exactly periodic on the pixel grid with a ``5a x 5a`` super-period and is built by one
inverse FFT. Inside the cell it is a sum of cosines at integer cell frequencies ``k`` with
``k_low <= |k| <= k_high`` (about 0.04-0.20 cycles per working pixel, which JPEG q50, blur
and a 0.5x resize leave alive; WebP q50's 4x4 transform keeps the lower part of that band
much better than the upper, hence the low-weighted lines and the fairly long period). A
keyed split (:func:`build_layout`) makes ``n_sync`` of them a synchronisation component
with keyed phases; the others carry the coded payload in QPSK around keyed carrier phases.
Large images get the working-resolution pattern upsampled, so the period scales with the
image.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from synthmark.watermark.affine import AffineSearch
from synthmark.watermark.ecc import ConvCode, crc16, crc24
from synthmark.watermark.lattice import LatticeSearch

__all__ = [
    "CRCS",
    "D4",
    "LUMA",
    "LUMA_WEIGHTS",
    "PLAIN",
    "Layout",
    "TileDesign",
    "Variant",
    "build_layout",
    "variant_of",
]

#: BT.601 luma weights of R, G and B
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
LUMA = np.array(LUMA_WEIGHTS, np.float32)
#: The 8 symmetries of the square lattice, as integer maps of cell frequencies.
D4 = [
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
#: the CRCs a design may use, by width
CRCS = {16: crc16, 24: crc24}
#: the domain of every keyed choice: changing it changes every mark
KEY_DOMAIN = "synthmark/tiled/v1/"


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
    #: where rounding pushed the PSNR under ``min_psnr``, the change is scaled down once
    #: to this share of the floor's mean square
    psnr_floor_margin: float = 0.98
    #: where only the PSNR bound binds but the marked image's PSNR ends more than this
    #: (dB) above ``target_psnr``, the change is scaled up once (see ``budget.finish``)
    psnr_slack: float = 0.3
    #: the SSIM model's target, 0.0022 above the 0.98 required: the model works at half
    #: resolution, which smooths the local variance of sharp detail, and on a poster of
    #: text with the centre emphasis it predicted 0.9815 where the image measured 0.9799
    #: (the largest error in 1,200 images; 0.9822 left every image at 0.9807 or more)
    target_ssim: float = 0.9822
    #: bisection steps of the SSIM scale (a factor known to 2^-8)
    ssim_bisect_steps: int = 8
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
    #: texture masking's detail (Gaussian high-pass) and activity (local RMS) sigmas in
    #: working pixels, and its cap in multiples of the mask's mean
    mask_detail_sigma: float = 1.0
    mask_activity_sigma: float = 3.0
    mask_cap: float = 4.0
    #: a pixel whose mask exceeds ``mask_live`` can carry the mark; an image with fewer
    #: than ``min_live_share`` such pixels is refused
    mask_live: float = 0.05
    min_live_share: float = 0.05
    #: channel values this close to 0 or 255 get a smaller change, none at the end (a
    #: linear ramp: the change would clip)
    headroom_levels: float = 6.0
    #: above this channel value the mask falls linearly, to ``bright_floor`` at 255:
    #: a brightness gain saturates these pixels first, erasing whatever they carry
    bright_knee: float = 170.0
    bright_floor: float = 0.2
    #: line amplitudes ``(|k| / k_high)^tilt``: ``line_tilt`` where the SSIM bound limits
    #: the strength, ``texture_tilt`` where only the PSNR bound does (see ``budget``).
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
    #: improved spread spectrum: the share of the host's own content at the pattern's
    #: lines that is subtracted, at most ``iss_budget`` of the PSNR budget
    iss: float = 0.5
    iss_budget: float = 0.35
    #: the working image is shrunk with Pillow's bilinear filter and this reducing gap
    embed_reducing_gap: float = 2.0
    highpass_sigma: float = 3.0
    #: residual weights ``1 / (E^p + floor)`` of the local energy ``E``
    #: (:func:`~synthmark.watermark.whiten.residual`); 1.5 with the bright-area mask raised
    #: the exact rate after WebP q50 at 512 px from 66% to 73% (benchmarks/watermark_bench.py)
    weight_power: float = 1.5
    payload_bits: int = 64
    #: the CRC that tells a valid decode: 16 (CRC-16/CCITT) or 24 (CRC-24/OpenPGP) bits
    crc_bits: int = 24
    #: a payload is decoded only from this sync score up (a decode costs about 1 ms, and
    #: an unmarked image's alignments mostly score 2.5-3.5; the false-positive bound holds
    #: whichever alignments are decoded)
    decode_gate: float = 3.0
    #: of the keyless search's candidates, all but the nominal lattices are aligned only
    #: from this keyless line score up (:func:`~synthmark.watermark.lattice.find_lattices`'s
    #: ``min_score``; an alignment costs about 2 ms, most of an unmarked read). 320
    #: candidates of 40 unmarked reads at 512 and 1024 px (photos, JPEG q50, a corner crop,
    #: the compound chain) scored 1.0-1.19; those at which marks of the robustness table
    #: decoded, 1.33 and up at 512 px (675 reads), 1.43 at 1024 px (703); faint marks 1.26.
    #: Both gates leave out hypotheses, so the false-positive bound holds as it is
    candidate_gate: float = 1.2
    #: the nominal lattices (no geometric change) are aligned only from this keyless line
    #: score up; 0 aligns them always, the default. Those of 52 unmarked reads (the timing
    #: script's 12 photos; 10 others as they are, after JPEG q50, a corner crop and the
    #: compound chain) scored 0.84-1.09, 72 of 104 under 1.0; the marks of the robustness
    #: table that decoded at one, 1.10 and up at 512 px (1,499 reads), 1.24 at 1024 px
    #: (1,332). At 1.0 it saved no measurable time of an unmarked read (51-54 ms either
    #: way) and cost every read back its line scorer (about 3.5 ms), so it is off
    nominal_gate: float = 0.0
    #: the soft values are weighted per ring of ``|k|`` (``snr_rings`` equal rings from
    #: ``k_low`` to ``k_high``) by an SNR measured from the ring's sync lines; a ring with
    #: fewer than ``min_ring_sync`` sync lines is skipped, and its data noise is never
    #: taken under ``data_noise_floor`` times its sync noise
    snr_rings: int = 4
    min_ring_sync: int = 3
    data_noise_floor: float = 0.25
    #: when no alignment gives a valid word, the best one's ``list_size`` most likely
    #: words are checked (list Viterbi), if its sync score reaches ``list_gate``
    list_size: int = 5
    list_gate: float = 3.5
    code_polys: tuple[int, ...] = (0o557, 0o663, 0o711)
    code_constraint: int = 9
    alpha: float = 1e-6
    search: LatticeSearch = field(default_factory=LatticeSearch)
    #: the keyed local search (``sync.Synchroniser.refine``) runs when the best candidate
    #: lattice reaches this sync score without a valid payload (about 3% of unmarked images)
    refine_gate: float = 3.6
    #: its grid: ``+-refine_angle_steps`` steps of ``refine_angle_step`` degrees by
    #: ``+-refine_scale_steps`` steps of ``refine_scale_step`` in scale, climbed in strides
    #: of ``refine_strides`` grid points in turn
    refine_angle_step: float = 0.1
    refine_angle_steps: int = 6
    refine_scale_step: float = 0.002
    refine_scale_steps: int = 5
    refine_strides: tuple[int, ...] = (3, 1)
    #: share of ``alpha`` given to the refined alignments (weighted Bonferroni)
    refine_share: float = 0.1
    #: keyed scan (``sync.Synchroniser.scan``), the last stage: the sync score of the
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
    #: the scan's spectrum is zero-padded to this many times the image's side; two scan
    #: points closer than ``scan_peak_gap`` steps are the same peak
    scan_pad: int = 2
    scan_peak_gap: int = 3
    #: the scan's best is refined from this sync score (the refinement costs 20-40 ms; it
    #: changes no bound). With the crop families, 200 unmarked reads at 512 px (100
    #: photos as they are and after the compound chain) scored 2.7-4.05 (2 from 4.0); the
    #: compound chain's marks that the scan found 4.6-7.4, one at 4.13 that refinement
    #: took to 4.55 and read (4.2 missed it)
    scan_gate: float = 4.0
    #: share of ``alpha`` given to the scan's refined alignments
    scan_share: float = 0.05
    #: the scan also tries every angle (as its rotation family) at the period of a crop
    #: that kept the pixel scale, of an image marked with one of these short sides (the
    #: sizes images are generated at): a crop, with or without a turn, of an image that
    #: was not resized since marking. The period is ``nominal_period * side / short`` in
    #: decode space, for the cropped image's short side ``short``: the compound chain (a
    #: 5 degree turn and a crop to 60%) leaves a lattice at 1.29 times the nominal period
    #: and 5 degrees off, which neither of the other families nor the keyless search finds
    crop_sides: tuple[int, ...] = (512, 768, 1024)
    #: the scan also scores the keyless search's ``scan_global`` best global (log-polar)
    #: lattices by the keyed sync (the first stage decodes only its ``n_global`` best), and
    #: the ``scan_sharp`` best of a log-polar search on the spike spectrum itself rather
    #: than its 3 x 3 maximum: a weak mark rotated, cropped and resized. On 30 images at
    #: 512 px the compound chain read 19 without either, 22 with 6 global peaks (also with
    #: 12), 24 with 3 sharp ones as well (also with 6)
    scan_global: int = 6
    scan_sharp: int = 3
    #: each payload's pattern is shifted within the cell by an offset keyed by the payload
    #: (:func:`variant_of`), so that marks with different payloads share no fixed pattern
    #: that averaging could estimate: each line's phase moves by ``2 pi k . offset``. The
    #: decoder searches every shift anyway: it reads marks made with and without variants
    #: alike, within the same false-positive bound. (Turning the pattern by one of the
    #: lattice's symmetries as well would blind the keyed scan, which tries the identity
    #: only.)
    variants: bool = True
    #: the scan stage also aligns the lattices of any basis that the spectrum's
    #: autocorrelation gives (:func:`~synthmark.watermark.affine.affine_lattices`): a
    #: changed aspect ratio or a shear, which no square lattice fits
    affine: AffineSearch = field(default_factory=AffineSearch)

    def step_for(self, short: int) -> int:
        """The lattice step for an image whose short side is ``short`` pixels."""
        return self.step if short >= self.work_short else self.small_step

    @property
    def nominal_period(self) -> float:
        """The lattice period in decode-space pixels of an image neither cropped nor
        turned (marked at ``work_short`` or more)."""
        return self.step * math.sqrt(5.0)

    @property
    def channel_gains(self) -> tuple[float, float, float]:
        """The change in R, G and B per unit of luminance change (``colour_mix`` of the way
        from equal to ``luma / |luma|^2``); their luma-weighted sum is 1."""
        luma = np.array(LUMA_WEIGHTS)
        g = (1.0 - self.colour_mix) + self.colour_mix * luma / float(luma @ luma)
        return (float(g[0]), float(g[1]), float(g[2]))


def keyed_rng(key: bytes, label: str) -> np.random.Generator:
    """A generator seeded by HMAC-SHA256 of ``label`` under ``key``."""
    digest = hmac.new(key, f"{KEY_DOMAIN}{label}".encode(), hashlib.sha256).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


@dataclass(frozen=True)
class Variant:
    """A payload's keyed variant of the pattern: cell frequency ``k`` is drawn at
    ``symmetry @ k`` with its phase moved by ``-2 pi k . offset``, so the pattern at cell
    coordinates ``u`` is the plain pattern at ``symmetry^T u - offset``."""

    symmetry: NDArray[np.int_]
    offset: NDArray[np.float64]


#: the plain pattern (marks made without variants)
PLAIN = Variant(np.eye(2, dtype=np.int_), np.zeros(2))


def variant_of(key: bytes, payload: bytes, design: TileDesign) -> Variant:
    """The keyed variant of ``payload``'s pattern (:data:`PLAIN` when the design has
    none)."""
    if not design.variants:
        return PLAIN
    rng = keyed_rng(key, f"variant/{payload.hex()}")
    return Variant(D4[0], rng.uniform(0.0, 1.0, 2))


@dataclass(frozen=True)
class Layout:
    """Every keyed choice of one key under one design."""

    #: the sync lines' cell frequencies, shape (n_sync, 2), and their keyed phases
    sync: NDArray[np.int_]
    psi: NDArray[np.float64]
    #: the data lines' cell frequencies and their keyed carrier phases
    data: NDArray[np.int_]
    theta: NDArray[np.float64]
    #: which coded bit each data dimension (real, imaginary of each data line) carries
    dim_to_coded: NDArray[np.int_]
    #: information bits (payload and CRC) and coded bits
    n_info: int
    n_coded: int


def build_layout(key: bytes, design: TileDesign, code: ConvCode) -> Layout:
    """The keyed split of the band's lines into sync and data, their phases and the
    interleaver.

    Raises:
        ValueError: the design has fewer data dimensions than coded bits.
    """
    d = design
    span = math.ceil(d.k_high)
    g1, g2 = np.meshgrid(np.arange(-span, span + 1), np.arange(-span, span + 1))
    k1, k2 = g1.ravel(), g2.ravel()
    radius = np.hypot(k1, k2)
    keep = (radius >= d.k_low) & (radius <= d.k_high) & ((k2 > 0) | ((k2 == 0) & (k1 > 0)))
    lines = np.stack([k1[keep], k2[keep]], 1)
    perm = keyed_rng(key, "split").permutation(len(lines))
    sync = lines[perm[: d.n_sync]]
    data = lines[perm[d.n_sync :]]
    n_info = d.payload_bits + d.crc_bits
    n_coded = code.coded_length(n_info)
    n_dims = 2 * len(data)
    if n_dims < n_coded:
        raise ValueError(f"design has {n_dims} data dimensions, needs {n_coded}")
    dim_to_coded = keyed_rng(key, "interleave").permutation(np.arange(n_dims) % n_coded)
    return Layout(
        sync=sync,
        psi=keyed_rng(key, "sync-phase").uniform(0, 2 * np.pi, len(sync)),
        data=data,
        theta=keyed_rng(key, "carrier-phase").uniform(0, 2 * np.pi, len(data)),
        dim_to_coded=dim_to_coded,
        n_info=n_info,
        n_coded=n_coded,
    )
