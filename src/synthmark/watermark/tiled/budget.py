"""The strength budget: where the change may go (the mask), how strong it may be (PSNR and
a model of SSIM), and how it lands on 8-bit pixels.

The luminance change ``d`` is added to R, G and B, half of the way from equal amounts to
amounts in proportion to the luma weights (``colour_mix``: for the same PSNR and SSIM,
which count every channel, the luminance change can be 0.92 dB stronger, at the cost of a
faint colour in the change; the decoder reads luminance only); a grey image, R = G = B at
every pixel, gets equal amounts and stays grey. It is shaped by a mask (none near black or
white, where it would clip, and less in bright areas, which a brightness gain saturates
first; texture may get more, see ``mask_gamma``; three quarters of it go to the centred
half of the image, which crops keep, see ``centre_boost``) and its strength is the largest
that keeps both the PSNR and a predicted SSIM on target (the SSIM model, per RGB channel
and with the local variance of the change, is mostly accurate to about 0.0005, but it
works at half resolution and has overestimated sharp text's SSIM by 0.0016, so it aims at
``target_ssim`` = 0.9822). The lines' amplitudes may follow ``|k|^tilt``, chosen per image
(the decoder needs no knowledge of it: sync is phase-only and the soft bits are weighted
by a per-ring SNR measured from the sync lines): ``line_tilt`` where the SSIM bound limits
the strength (smooth images, for which low lines cost less SSIM and survive WebP best),
``texture_tilt`` where only the PSNR bound does: -0.5 and 0 (equal amplitudes) by default.
On such busy images a second mask that also follows the decoder's weights, which favour
quiet areas, is tried and kept when it gives the decoder more signal (``quiet_power``).
The embedder knows the host, so it also subtracts a share ``iss`` of the host's own
content at the pattern's frequencies (improved spread spectrum, Malvar and Florencio
2003): the decoder then sees much less host interference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from synthmark.watermark.tiled.design import TileDesign
from synthmark.watermark.tiled.pattern import PatternTiler
from synthmark.watermark.whiten import blur

__all__ = [
    "Budget",
    "Planner",
    "SsimModel",
    "apply_change",
    "centre_profile",
    "choose_change",
    "embed_mask",
    "extremes",
    "finish",
    "headroom",
    "is_grey",
    "ssim_model",
    "ssim_scale",
    "upsample",
]

_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2
#: Gaussian sigma, in half-resolution pixels, that after a 2x2 mean makes up SSIM's
#: sigma-1.5 window: 0.25 + 4 s^2 = 1.5^2
_HALF_SIGMA = math.sqrt(0.5)
#: the side of a centred square of half an image's area, relative to the image's side
HALF_SIDE = math.sqrt(0.5)


# ---------------------------------------------------------------------- pixels
@lru_cache(maxsize=4)
def _headroom_lut(levels: float) -> NDArray[np.float32]:
    """The headroom mask by a pixel's distance from 0 or 255 (see :func:`headroom`)."""
    return np.minimum(np.arange(256, dtype=np.float32) / np.float32(levels), np.float32(1.0))


@lru_cache(maxsize=4)
def _bright_lut(knee: float, floor: float) -> NDArray[np.float32]:
    """The bright-pixel mask factor by a pixel's highest channel value: 1 up to ``knee``,
    falling linearly to ``floor`` at 255 (the same float32 steps as on an image)."""
    t = (np.arange(256, dtype=np.float32) - np.float32(knee)) / np.float32(255.0 - knee)
    np.clip(t, 0.0, 1.0, out=t)
    return np.float32(1.0) - np.float32(1.0 - floor) * t


def extremes(rgb8: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Each pixel's lowest and highest channel value."""
    # np.minimum chains on uint8, not min(axis=-1) on floats: about 20x faster at 2048 px
    lo = np.minimum(np.minimum(rgb8[..., 0], rgb8[..., 1]), rgb8[..., 2])
    hi = np.maximum(np.maximum(rgb8[..., 0], rgb8[..., 1]), rgb8[..., 2])
    return lo, hi


def is_grey(rgb8: NDArray[np.uint8]) -> bool:
    """Whether R, G and B are equal at every pixel."""
    return bool(
        np.array_equal(rgb8[..., 0], rgb8[..., 1]) and np.array_equal(rgb8[..., 1], rgb8[..., 2])
    )


def headroom(
    lo: NDArray[np.uint8], hi: NDArray[np.uint8], levels: float = 6.0
) -> NDArray[np.float32]:
    """1 where a pixel's channels (lowest ``lo``, highest ``hi``) are all at least
    ``levels`` from 0 and 255, falling linearly to 0 at either end: how much of a luminance
    change it takes without clipping."""
    return np.asarray(_headroom_lut(levels)[np.minimum(lo, 255 - hi)], np.float32)


def apply_change(
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


def upsample(a: NDArray[np.float32], size: tuple[int, int]) -> NDArray[np.float32]:
    """Bicubic upsampling of a float image to ``size`` (width, height), with OpenCV: 20-30x
    faster than Pillow's "F" mode at 512 -> 2048 px (about 1 ms on one core)."""
    import cv2  # imported here: only images over the working resolution need it

    return np.asarray(cv2.resize(a, size, interpolation=cv2.INTER_CUBIC), np.float32)


@lru_cache(maxsize=8)
def centre_profile(shape: tuple[int, int], boost: float, ramp: float) -> NDArray[np.float32]:
    """Mask factor ``sqrt(1 + boost)`` in the centred rectangle of half the area of an
    image of ``shape`` (rows, columns), ``sqrt(1 - boost)`` outside, ramped linearly over
    ``ramp`` of each side across the rectangle's edges (see ``TileDesign.centre_boost``)."""
    inside, outside = math.sqrt(1.0 + boost), math.sqrt(1.0 - boost)
    axes = []  # cached, read-only: callers multiply it into their own arrays
    for n in shape:
        x = np.abs(np.arange(n, dtype=np.float32) + 0.5 - n / 2) / n
        axes.append(np.clip((HALF_SIDE / 2 - x) / ramp + 0.5, 0.0, 1.0))
    box = axes[0][:, None] * axes[1][None, :]
    profile = np.asarray(outside + (inside - outside) * box, np.float32)
    profile.flags.writeable = False
    return profile


def embed_mask(
    y: NDArray[np.float32],
    rgb8: NDArray[np.uint8],
    design: TileDesign,
) -> NDArray[np.float32]:
    """Where the change may go: none where it would clip, less in bright pixels (and more
    in texture if ``mask_gamma`` > 0), more in the centre half (``centre_boost``)."""
    d = design
    lo, hi = extremes(rgb8)
    mask = headroom(lo, hi, d.headroom_levels)
    if d.mask_gamma:
        hp = y - blur(y, d.mask_detail_sigma)
        activity = np.sqrt(np.maximum(blur(hp * hp, d.mask_activity_sigma), 0.0))
        texture = (activity + np.float32(d.mask_floor)) ** np.float32(d.mask_gamma)
        np.minimum(texture, np.float32(d.mask_cap * float(texture.mean())), out=texture)
        mask = texture * mask
    if d.bright_floor < 1.0:
        mask *= _bright_lut(d.bright_knee, d.bright_floor)[hi]
    if d.centre_boost:
        mask *= centre_profile(y.shape, d.centre_boost, d.centre_ramp)
    return mask


# ---------------------------------------------------------------------- SSIM model
def _half(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """Means over 2x2 blocks of the last two axes (an odd last row or column is dropped)."""
    h, w = a.shape[-2] // 2 * 2, a.shape[-1] // 2 * 2
    b = np.asarray(a[..., :h, :w], np.float32)
    rows = b[..., 0::2, :] + b[..., 1::2, :]
    out = rows[..., 0::2] + rows[..., 1::2]
    out *= np.float32(0.25)
    return out


def _half_moments(rgb8: NDArray[np.uint8]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """:func:`_half` of each channel of ``rgb8`` and of its square, channels first. With
    OpenCV's area resampling, which for a 2x reduction of integer values gives exactly the
    same float32 means, about twice as fast as :func:`_half` on (3, h, w) floats."""
    import cv2  # imported here, as in :func:`upsample`

    h, w = rgb8.shape[0] // 2, rgb8.shape[1] // 2
    full = np.ascontiguousarray(rgb8[: 2 * h, : 2 * w], np.float32)
    moments: list[NDArray[np.float32]] = []
    for a in (full, full * full):
        half = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, 3)
        moments.append(np.ascontiguousarray(np.moveaxis(half, -1, 0), np.float32))
    return moments[0], moments[1]


def _window(a: NDArray[np.float32]) -> NDArray[np.float32]:
    """The rest of SSIM's window on half-resolution planes (the last two axes): the
    Gaussian :func:`~synthmark.watermark.whiten.blur` of :data:`_HALF_SIGMA`, reflected at
    the borders as :func:`~synthmark.watermark.quality.ssim`'s own window is, a plane at a
    time."""
    planes = np.asarray(a, np.float32).reshape(-1, *a.shape[-2:])
    return np.stack([blur(plane, _HALF_SIGMA) for plane in planes]).reshape(a.shape)


@dataclass
class SsimModel:
    """Host statistics in the SSIM window at half resolution, per RGB channel."""

    #: ``2 var_c + C2``
    base: NDArray[np.float32]
    #: ``2 mu_c^2 + C1``
    lum_den: NDArray[np.float32]
    #: each channel's squared gain (:attr:`TileDesign.channel_gains`), shaped (3, 1, 1)
    gains2: NDArray[np.float32]


def ssim_model(rgb8: NDArray[np.uint8], gains: tuple[float, float, float]) -> SsimModel:
    """Per-channel local statistics of the host, and the channels' gains, for
    :func:`ssim_scale`."""
    x, x2 = _half_moments(rgb8)
    mu = _window(x)
    var_x = np.maximum(_window(x2) - mu * mu, 0.0)
    return SsimModel(
        2.0 * var_x + np.float32(_SSIM_C2),
        2.0 * mu * mu + np.float32(_SSIM_C1),
        np.square(np.asarray(gains, np.float32))[:, None, None],
    )


def ssim_scale(
    model: SsimModel, delta: NDArray[np.float32], target: float, steps: int = 8
) -> float:
    """Largest factor <= 1 on ``delta`` that keeps a predicted mean SSIM at ``target``
    (bisection in ``steps`` steps).

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
    mu_d = _window(_half(delta))
    var_d = np.maximum(_window(_half(delta * delta)) - mu_d * mu_d, 0.0)
    g2 = model.gains2
    lum = float(np.mean(g2 * (mu_d * mu_d) / model.lum_den))
    base = model.base
    rounding = np.float32(1.0 / 12.0)
    var_c = g2 * var_d

    work = np.empty_like(var_c)

    def predicted(t: float) -> float:
        # base / (base + t^2 var_c + rounding), in one buffer
        np.multiply(np.float32(t * t), var_c, out=work)
        np.add(base, work, out=work)
        np.add(work, rounding, out=work)
        np.divide(base, work, out=work)
        return float(np.mean(work)) - t * t * lum

    if predicted(1.0) >= target:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if predicted(mid) >= target:
            lo = mid
        else:
            hi = mid
    return lo


# ---------------------------------------------------------------------- the budget
@dataclass
class Budget:
    """What one image allows: the channels' gains and the PSNR target.

    Attributes:
        gains: the change in R, G and B per unit of luminance change.
        target_full: the PSNR target's mean squared change over every channel value.
        target_ms: the luminance change's mean square on that target.
        model: the host's SSIM model.
        design: the scheme's constants.
    """

    gains: tuple[float, float, float]
    target_full: float
    target_ms: float
    model: SsimModel
    design: TileDesign

    @classmethod
    def for_image(
        cls, full8: NDArray[np.uint8], rgb8: NDArray[np.uint8], design: TileDesign
    ) -> Budget:
        """The budget of an image (``full8``) marked at the working resolution (``rgb8``,
        the same array when it is not shrunk)."""
        # A grey image (R = G = B everywhere) gets a grey change, so that it stays grey.
        grey = is_grey(rgb8) and (rgb8 is full8 or is_grey(full8))
        gains = (1.0, 1.0, 1.0) if grey else design.channel_gains
        # The PSNR counts every channel: the luminance change's mean square is the target
        # over the mean squared gain.
        power = float(np.mean(np.square(gains)))
        target_full = 255.0**2 / 10 ** (design.target_psnr / 10.0)
        target_ms = (target_full - 1.0 / 12.0) / power
        return cls(gains, target_full, target_ms, ssim_model(rgb8, gains), design)

    def ssim_scale(self, delta: NDArray[np.float32]) -> float:
        """:func:`ssim_scale` at the design's target."""
        d = self.design
        return ssim_scale(self.model, delta, d.target_ssim, d.ssim_bisect_steps)


class Planner:
    """The change for a line tilt under the mask ``where``: ``k * signal - lam * against``
    (``against`` cancels the host at the pattern's lines, at most ``iss_budget`` of the
    PSNR budget), with its mean square on the PSNR target."""

    def __init__(
        self,
        tiler: PatternTiler,
        host_lines: NDArray[np.float32],
        wt: NDArray[np.float32],
        where: NDArray[np.float32],
        budget: Budget,
    ) -> None:
        d = budget.design
        sp = tiler.sp
        sum_w = float(wt.sum())
        gain = float((wt * where).sum()) / sum_w
        against = host_lines * where
        against *= np.float32(2.0 * sp * sp / (gain * sum_w))
        c = float(np.mean(against * against))
        lam = d.iss
        if lam * lam * c > d.iss_budget * budget.target_ms:
            lam = math.sqrt(d.iss_budget * budget.target_ms / c)
        self.tiler = tiler
        self.where = where
        self.against = against
        self.c = c
        self.lam = lam
        self.target_ms = budget.target_ms

    def change(self, tilt: float) -> NDArray[np.float32]:
        """The planned change at line tilt ``tilt``."""
        lam, c, against = self.lam, self.c, self.against
        signal = self.tiler.pattern(tilt) * self.where
        a = float(np.mean(signal * signal))
        b = float(np.mean(signal * against))
        disc = max(lam * lam * b * b - a * (lam * lam * c - self.target_ms), 0.0)
        k = (lam * b + math.sqrt(disc)) / a
        return np.asarray(k * signal - lam * against, np.float32)


def choose_change(
    tiler: PatternTiler,
    host_lines: NDArray[np.float32],
    wt: NDArray[np.float32],
    mask: NDArray[np.float32],
    budget: Budget,
) -> tuple[NDArray[np.float32], float]:
    """The working-resolution change and the SSIM bound's scale on it: tilt towards low
    lines; if the SSIM bound does not bind even then, the image is busy enough that the
    upper lines serve it as well (``texture_tilt``), and a mask that favours the quiet
    areas the decoder listens to is tried (:func:`_quieter`)."""
    d = budget.design
    planner = Planner(tiler, host_lines, wt, mask, budget)
    delta = planner.change(d.line_tilt)
    t = budget.ssim_scale(delta)
    if t >= 1.0 and d.texture_tilt != d.line_tilt:
        delta = planner.change(d.texture_tilt)
        t = budget.ssim_scale(delta)
    if t >= 1.0 and d.quiet_power:
        delta, t = _quieter(tiler, host_lines, wt, mask, budget, (delta, t))
    return delta, t


def _quieter(
    tiler: PatternTiler,
    host_lines: NDArray[np.float32],
    wt: NDArray[np.float32],
    mask: NDArray[np.float32],
    budget: Budget,
    current: tuple[NDArray[np.float32], float],
) -> tuple[NDArray[np.float32], float]:
    """Only the PSNR bound binds: try moving energy to where the decoder listens (quiet
    areas, which it weights most), kept if the decoder then sees more of the pattern, in
    the whole image and in its centre half (a crop)."""
    d = budget.design
    delta, t = current
    rel = wt / np.float32(float(np.mean(wt[mask > d.mask_live])))
    quiet = mask * np.minimum(rel ** np.float32(d.quiet_power), np.float32(d.quiet_cap))
    alt = Planner(tiler, host_lines, wt, quiet, budget).change(d.texture_tilt)
    t_alt = budget.ssim_scale(alt)
    ref = tiler.pattern(d.texture_tilt) * wt
    wh, ww = tiler.shape
    ch, cw = round(wh * HALF_SIDE), round(ww * HALF_SIDE)  # a crop to half the area
    inner = np.s_[(wh - ch) // 2 : (wh + ch) // 2, (ww - cw) // 2 : (ww + cw) // 2]
    seen, seen_alt = delta * ref * np.float32(t), alt * ref * np.float32(t_alt)
    now = (float(seen.sum()), float(seen[inner].sum()))
    then = (float(seen_alt.sum()), float(seen_alt[inner].sum()))
    if (
        t_alt >= d.quiet_min_scale
        and min(now) > 0.0
        and min(b / a for a, b in zip(now, then, strict=True)) >= d.quiet_gain
    ):
        return alt, t_alt
    return delta, t


def finish(
    full8: NDArray[np.uint8], work: NDArray[np.float32], t: float, budget: Budget
) -> NDArray[np.uint8]:
    """The marked pixels: the working change ``work`` at the SSIM bound's scale ``t``,
    upsampled to the full image when it was planned smaller, applied in 8 bits, and
    scaled once up (unused PSNR budget) or down (rounding under ``min_psnr``)."""
    d = budget.design
    gains = budget.gains
    h, w = full8.shape[:2]
    work *= np.float32(t)
    delta = work
    if work.shape != (h, w):
        delta = upsample(work, (w, h))
        # The mask was made at the working resolution, where a dark or bright pixel
        # next to an edge is averaged with its neighbours: keep the upsampled change
        # off the full-resolution pixels that would clip.
        delta = delta * headroom(*extremes(full8), d.headroom_levels)
    floor_ms = 255.0**2 / 10 ** (d.min_psnr / 10.0)
    out, mse = apply_change(full8, delta, floor_ms, gains)
    if t >= 1.0 and 0.0 < mse * 10 ** (d.psnr_slack / 10.0) < budget.target_full:
        # Only the PSNR bound binds, yet part of its budget went unused: the headroom
        # mask at full resolution and rounding to 8 bits took it (images mostly near
        # black or white). Scale up once, as far as the PSNR target and the SSIM
        # model allow.
        up = math.sqrt(budget.target_full / mse)
        up *= budget.ssim_scale(work * np.float32(up))
        if up > 1.0:
            delta = delta * np.float32(up)
            out, mse = apply_change(full8, delta, floor_ms, gains)
    if mse > floor_ms:  # rounding pushed the PSNR under its floor: scale down once
        scaled = delta * np.float32(math.sqrt(floor_ms / mse * d.psnr_floor_margin))
        out, _ = apply_change(full8, scaled, floor_ms, gains)
    return out
