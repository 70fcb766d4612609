"""Decoding: soft bits off an aligned cell, Viterbi and CRC, and the staged search.

The payload lines are read as soft bits, weighted by a per-ring SNR estimated from the
sync lines, and decoded by Viterbi (:mod:`synthmark.watermark.ecc`); a CRC tells a valid
decode. :meth:`Decoder.read` runs the stages (:class:`~.bound.Stage`): every lattice
candidate, then the keyed refinement of the best, then the keyed scan
(:class:`~.sync.Synchroniser`), which also aligns the lattices of any basis that the
spectrum's autocorrelation gives (:mod:`synthmark.watermark.affine`: an aspect change or a
shear); when no alignment's word passes the CRC, the best
alignment's next ``list_size - 1`` most likely words are tried (list Viterbi). What each
stage costs in the false-positive bound is :mod:`~synthmark.watermark.tiled.bound`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from synthmark.watermark.base import WatermarkStatus
from synthmark.watermark.ecc import ConvCode, bits_to_bytes
from synthmark.watermark.lattice import Lattice
from synthmark.watermark.tiled.bound import FalsePositiveBound, Stage
from synthmark.watermark.tiled.design import CRCS, D4, Layout, TileDesign
from synthmark.watermark.tiled.sync import Alignment, Synchroniser

__all__ = ["Attempt", "Decoded", "Decoder", "Outcome"]


@dataclass
class Decoded:
    """One alignment's decode: the payload (None if the CRC fails), diagnostics and the
    soft values."""

    payload: bytes | None
    info: dict[str, Any]
    llr: NDArray[np.float64]


@dataclass
class Attempt:
    """One alignment tried at one stage, with its sync p-value, and its decode if it was
    decoded (a decode that failed the CRC: a passing one ends the read)."""

    alignment: Alignment
    stage: Stage
    p_sync: float
    decoded: Decoded | None = None


@dataclass
class Outcome:
    """What a read found: the status, the payload when present, the p-value (of the
    payload when present, of the sync pattern otherwise), the alignment it rests on and
    the decoder's diagnostics."""

    status: WatermarkStatus
    payload: bytes | None
    p_value: float
    alignment: Alignment
    stage: Stage
    p_sync: float
    info: dict[str, Any] = field(default_factory=dict)


class Decoder:
    """Reads the payload of ``layout`` off aligned cells.

    Args:
        layout: the keyed layout.
        design: the scheme's constants.
        code: the convolutional code.
        bound: the false-positive bound of the design's search.
    """

    def __init__(
        self, layout: Layout, design: TileDesign, code: ConvCode, bound: FalsePositiveBound
    ) -> None:
        self.layout = layout
        self.design = design
        self.code = code
        self.bound = bound

    # ------------------------------------------------------------------ one alignment
    def lines(self, al: Alignment, lines: NDArray[np.int_], phase: NDArray) -> NDArray:
        """The aligned cell's spectrum at ``lines``, with the keyed ``phase`` taken off."""
        g, pg = self.design.grid, self.design.shift_grid
        k = lines @ D4[al.symmetry].T
        ramp = np.exp(2j * np.pi * (lines[:, 0] * al.shift[0] + lines[:, 1] * al.shift[1]) / pg)
        return al.spectrum[k[:, 0] % g, k[:, 1] % g] * np.exp(-1j * phase) * ramp

    def soft_bits(self, al: Alignment) -> tuple[NDArray[np.float64], dict[str, Any]]:
        """Soft values of the coded bits, weighted per ring by the SNR its sync lines
        show, and the rings' SNRs."""
        d = self.design
        lay = self.layout
        xs = self.lines(al, lay.sync, lay.psi)
        xd = self.lines(al, lay.data, lay.theta)
        rs = np.hypot(lay.sync[:, 0], lay.sync[:, 1])
        rd = np.hypot(lay.data[:, 0], lay.data[:, 1])
        edges = np.linspace(d.k_low, d.k_high + 1e-6, d.snr_rings + 1)
        weight = np.zeros(len(xd))
        snr_rings = []
        for lo, hi in itertools.pairwise(edges):
            s_sel = (rs >= lo) & (rs < hi)
            d_sel = (rd >= lo) & (rd < hi)
            if s_sel.sum() < d.min_ring_sync:
                continue
            # sync lines: gain (real part) and noise; data dimensions are +-amp plus noise
            gain = max(float(np.mean(xs[s_sel].real)), 0.0)
            resid = xs[s_sel] - gain
            noise_sync = float(np.mean(resid.real**2 + resid.imag**2)) / 2.0
            amp = gain / math.sqrt(2.0)
            y2 = float(np.mean(xd[d_sel].real ** 2 + xd[d_sel].imag ** 2)) / 2.0
            noise_data = max(y2 - amp * amp, d.data_noise_floor * noise_sync)
            n_s, n_d = int(s_sel.sum()), 2 * int(d_sel.sum())
            noise = (2 * n_s * noise_sync + n_d * noise_data) / (2 * n_s + n_d) + 1e-12
            weight[d_sel] = 2.0 * amp / noise
            snr_rings.append(round(amp * amp / noise, 3))
        soft_dims = np.empty(2 * len(xd))
        soft_dims[0::2] = xd.real * weight
        soft_dims[1::2] = xd.imag * weight
        llr = np.asarray(np.bincount(lay.dim_to_coded, soft_dims, lay.n_coded), np.float64)
        return llr, {"ring_snr": snr_rings}

    def checked(self, bits: NDArray[np.uint8]) -> bytes | None:
        """The payload of a decoded information word, or None if its CRC fails."""
        n = self.design.payload_bits
        data, check = bits[:n], bits[n:]
        crc = CRCS[self.design.crc_bits](data)
        return bits_to_bytes(data) if np.array_equal(crc, check) else None

    def decode(self, al: Alignment) -> Decoded:
        """The payload at ``al`` (None if the CRC fails), diagnostics, and the soft values."""
        llr, info = self.soft_bits(al)
        bits, _ = self.code.decode(llr, self.layout.n_info)
        payload = self.checked(bits)
        # Agreement of the soft values with the re-encoded word (1 = every sign agrees).
        recoded = 1.0 - 2.0 * self.code.encode(bits).astype(np.float64)
        agree = float(
            np.sum(np.abs(llr) * (np.sign(llr) == recoded)) / (np.sum(np.abs(llr)) + 1e-12)
        )
        # The decoded bits even when the CRC fails: not vouched for, useful for diagnosis.
        info.update(
            crc_ok=payload is not None,
            agreement=round(agree, 4),
            unverified_payload=bits_to_bytes(bits[: self.design.payload_bits]).hex(),
        )
        return Decoded(payload, info, llr)

    # ------------------------------------------------------------------ the staged read
    def attempt(self, al: Alignment, stage: Stage) -> Attempt:
        """Decode ``al`` when a valid CRC there could make the read present (the bound
        allows it and the sync score reaches ``decode_gate``)."""
        d = self.design
        out = Attempt(al, stage, self.bound.p_sync(al.z, stage))
        if self.bound.p_present(al.z, stage) <= d.alpha and al.z >= d.decode_gate:
            out.decoded = self.decode(al)
        return out

    def _present(self, attempt: Attempt) -> Outcome | None:
        decoded = attempt.decoded
        if decoded is None or decoded.payload is None:
            return None
        al, stage = attempt.alignment, attempt.stage
        p_total = self.bound.p_present(al.z, stage)
        return Outcome(
            WatermarkStatus.PRESENT,
            decoded.payload,
            p_total,
            al,
            stage,
            attempt.p_sync,
            decoded.info,
        )

    def _listed(self, best: Attempt) -> Outcome | None:
        """The best alignment's next most likely words (list Viterbi), each one more CRC
        check within ``max_decodes``, when it was decoded and failed the CRC."""
        d = self.design
        decoded, al = best.decoded, best.alignment
        if decoded is None or al.z < d.list_gate or d.list_size <= 1:
            return None
        words = self.code.decode_list(decoded.llr, self.layout.n_info, d.list_size)
        for bits, _ in words[1:]:
            payload = self.checked(bits)
            if payload is not None:
                p_total = self.bound.p_present(al.z, best.stage, words=d.list_size)
                listed = {**decoded.info, "crc_ok": True, "unverified_payload": None}
                info = {**listed, "list_decoded": True}
                return Outcome(
                    WatermarkStatus.PRESENT, payload, p_total, al, best.stage, best.p_sync, info
                )
        return None

    def first(
        self, rw: NDArray, wt: NDArray, lattices: Sequence[Lattice], sync: Synchroniser
    ) -> Outcome | None:
        """The first stage alone on ``lattices``: the outcome of the first that reads
        present, or None (no refinement, scan or list decoding)."""
        for lattice in lattices:
            found = self._present(self.attempt(sync.align(rw, wt, lattice), Stage.CANDIDATES))
            if found is not None:
                return found
        return None

    def read(
        self,
        rw: NDArray,
        wt: NDArray,
        lattices: list[Lattice],
        sync: Synchroniser,
        affine: Callable[[], list[Lattice]] | None = None,
        extra: Callable[[], Sequence[tuple[float, float]]] | None = None,
        scan_periods: Sequence[float] = (),
    ) -> Outcome:
        """Every stage in turn until a word passes the CRC (see the module doc); ``rw`` is
        the weighted residual, ``wt`` its weights, ``lattices`` the keyless candidates
        (perhaps none: the scan's best alignment then stands for the read); ``affine``
        gives the affine search's lattices, which the scan stage aligns too; ``extra``
        gives (period, angle) lattices the scan scores too, and the scan tries every angle
        at each of ``scan_periods`` (:func:`~.sync.crop_periods`)."""
        d = self.design
        tried: list[Attempt] = []
        folder = sync.folder(rw, wt)

        def run(al: Alignment, stage: Stage) -> Outcome | None:
            attempt = self.attempt(al, stage)
            found = self._present(attempt)
            if found is None:
                tried.append(attempt)
            return found

        for lattice in lattices:
            found = run(sync.align(rw, wt, lattice, folder), Stage.CANDIDATES)
            if found is not None:
                return found
        top = max(tried, key=lambda t: t.alignment.z).alignment if tried else None
        if top is not None and top.z >= d.refine_gate:
            found = run(sync.refine(rw, wt, top, folder), Stage.REFINED)
            if found is not None:
                return found
        scanned = sync.scan(rw, wt, extra() if extra is not None else (), scan_periods, folder)
        for lattice in affine() if affine is not None else []:
            aligned = sync.align(rw, wt, lattice, folder)
            if aligned.z > scanned.z:
                scanned = aligned
        if scanned.z >= d.scan_gate:
            found = run(sync.refine(rw, wt, scanned, folder), Stage.SCAN)
            if found is not None:
                return found
        if not tried:  # no candidate, and the scan's best under its gate: not decoded
            tried.append(Attempt(scanned, Stage.SCAN, self.bound.p_sync(scanned.z, Stage.SCAN)))
        best = min(tried, key=lambda t: (t.p_sync, -t.alignment.z))
        listed = self._listed(best)
        if listed is not None:
            return listed
        # for diagnosis only: nothing is vouched for
        decoded = best.decoded if best.decoded is not None else self.decode(best.alignment)
        status = WatermarkStatus.DAMAGED if best.p_sync <= d.alpha else WatermarkStatus.ABSENT
        return Outcome(
            status, None, best.p_sync, best.alignment, best.stage, best.p_sync, decoded.info
        )
