"""The keyed pattern on the pixel grid: payload symbols, the super-period's spectrum, and
the host's own content at the pattern's lines.

With lattice step ``a`` the lattice is spanned by ``(2a, a)`` and ``(-a, 2a)``, so the
pattern is exactly periodic with a ``5a x 5a`` super-period: cell frequency ``k`` sits at
one bin of that super-period's FFT (:func:`line_bins`), and one inverse FFT, tiled, draws
the whole pattern.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray

from synthmark.watermark.ecc import ConvCode, bytes_to_bits
from synthmark.watermark.tiled.design import CRCS, PLAIN, Layout, TileDesign, Variant

__all__ = ["PatternTiler", "amplitude", "line_bins", "symbols"]


def line_bins(lines: NDArray[np.int_], sp: int) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """Row and column of each cell frequency in the ``sp x sp`` (``sp = 5a``) super-period
    spectrum."""
    fx = (2 * lines[:, 0] - lines[:, 1]) % sp
    fy = (lines[:, 0] + 2 * lines[:, 1]) % sp
    return fy, fx


def symbols(
    payload: bytes, layout: Layout, design: TileDesign, code: ConvCode
) -> NDArray[np.complex128]:
    """The payload with its CRC, coded, interleaved and mapped to one QPSK symbol per data
    line (before the keyed carrier phases)."""
    bits = bytes_to_bits(payload)[: design.payload_bits]
    coded = code.encode(np.concatenate([bits, CRCS[design.crc_bits](bits)]))
    dims = 1.0 - 2.0 * coded[layout.dim_to_coded].astype(np.float64)
    return np.asarray((dims[0::2] + 1j * dims[1::2]) / math.sqrt(2.0), np.complex128)


def amplitude(lines: NDArray[np.int_], tilt: float, k_high: float) -> NDArray[np.float64]:
    """Relative amplitude of each line: ``(|k| / k_high)^tilt``."""
    radius = np.hypot(lines[:, 0], lines[:, 1])
    return np.asarray((radius / k_high) ** tilt, np.float64)


class PatternTiler:
    """The pattern of one payload on a working image of ``shape`` (rows, columns).

    Args:
        layout: the keyed layout.
        design: the scheme's constants.
        carriers: each data line's complex amplitude (symbol times keyed carrier phase).
        sp: the super-period (5 x the lattice step), in working pixels.
        shape: the working image's (rows, columns).
        variant: the payload's keyed symmetry and shift of the pattern
            (:func:`~.design.variant_of`).
    """

    def __init__(
        self,
        layout: Layout,
        design: TileDesign,
        carriers: NDArray[np.complex128],
        sp: int,
        shape: tuple[int, int],
        variant: Variant = PLAIN,
    ) -> None:
        self.layout = layout
        self.design = design
        self.sp = sp
        self.shape = shape
        self.reps = (shape[0] // sp + 1, shape[1] // sp + 1)
        turn = variant.symmetry.T  # rows k -> (symmetry k) as rows
        self.sync_bins = line_bins(layout.sync @ turn, sp)
        self.data_bins = line_bins(layout.data @ turn, sp)
        self.sync_phase = np.exp(1j * layout.psi - 2j * np.pi * (layout.sync @ variant.offset))
        self.carriers = carriers * np.exp(-2j * np.pi * (layout.data @ variant.offset))
        self._tiled: dict[float, NDArray[np.float32]] = {}

    def periodic(self, spec: NDArray[np.complex128]) -> NDArray[np.float32]:
        """The super-period with spectrum ``spec``, tiled over the working image."""
        wh, ww = self.shape
        return np.tile(sfft.ifft2(spec).real.astype(np.float32), self.reps)[:wh, :ww]

    def pattern(self, tilt: float) -> NDArray[np.float32]:
        """The unmasked pattern with line tilt ``tilt``."""
        if tilt not in self._tiled:
            lay, sp, k_high = self.layout, self.sp, self.design.k_high
            spec = np.zeros((sp, sp), np.complex128)
            spec[self.sync_bins] = self.sync_phase * amplitude(lay.sync, tilt, k_high)
            spec[self.data_bins] = self.carriers * amplitude(lay.data, tilt, k_high)
            self._tiled[tilt] = self.periodic(spec)
        return self._tiled[tilt]

    def host_lines(self, rw: NDArray[np.float32]) -> NDArray[np.float32]:
        """The host's component at the pattern's lines, as the decoder measures it: the
        weighted residual ``rw`` folded onto one super-period, kept at the lines only, and
        tiled back."""
        sp, reps = self.sp, self.reps
        wh, ww = self.shape
        padded = np.zeros((reps[0] * sp, reps[1] * sp), np.float32)
        padded[:wh, :ww] = rw
        folded = padded.reshape(reps[0], sp, reps[1], sp).sum(axis=(0, 2))
        host = sfft.fft2(folded)
        cancel = np.zeros((sp, sp), np.complex128)
        cancel[self.sync_bins] = host[self.sync_bins]
        cancel[self.data_bins] = host[self.data_bins]
        return self.periodic(cancel)
