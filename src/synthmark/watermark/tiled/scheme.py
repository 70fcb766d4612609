""":class:`TiledScheme`: the ``embed`` / ``extract`` front of synthmark's own mark.

The parts: the keyed layout and every constant (:mod:`.design`), the pattern on the
pixel grid (:mod:`.pattern`), the strength budget (:mod:`.budget`), the lattice and sync
search (:mod:`.sync`), decoding (:mod:`.decode`) and the false-positive bound
(:mod:`.bound`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property, partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.errors import KeyMissing, UsageError, WatermarkError
from synthmark.watermark.affine import affine_lattices
from synthmark.watermark.attribution import Frame
from synthmark.watermark.base import Readout, WatermarkScheme, WatermarkStatus
from synthmark.watermark.ecc import ConvCode
from synthmark.watermark.lattice import (
    LineScorer,
    find_lattices,
    global_peaks,
    line_scorer,
    nominal_lattices,
)
from synthmark.watermark.tiled.bound import FalsePositiveBound
from synthmark.watermark.tiled.budget import Budget, choose_change, embed_mask, finish
from synthmark.watermark.tiled.decode import Decoder, Outcome
from synthmark.watermark.tiled.design import (
    CRCS,
    D4,
    LUMA,
    PLAIN,
    Layout,
    TileDesign,
    Variant,
    build_layout,
    variant_of,
)
from synthmark.watermark.tiled.pattern import PatternTiler, symbols
from synthmark.watermark.tiled.sync import (
    Alignment,
    Synchroniser,
    crop_periods,
    false_positive_bound,
)
from synthmark.watermark.whiten import residual

__all__ = ["TiledScheme", "luma"]


def luma(image: Image.Image | NDArray[np.uint8]) -> NDArray[np.float32]:
    """The luminance of an RGB image or its (h, w, 3) pixels (BT.601 weights), as float32."""
    return np.asarray(image, dtype=np.float32) @ LUMA


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
        if self.design.crc_bits not in CRCS:
            raise ValueError(f"crc_bits must be one of {sorted(CRCS)}, got {self.design.crc_bits}")
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

    # ------------------------------------------------------------------ parts
    @cached_property
    def layout(self) -> Layout:
        """The keyed layout of this key (:func:`~.design.build_layout`)."""
        return build_layout(self._key, self.design, self._code)

    @cached_property
    def bound(self) -> FalsePositiveBound:
        """The false-positive bound of the design's search."""
        return false_positive_bound(self.design)

    @cached_property
    def sync(self) -> Synchroniser:
        """The lattice alignment, refinement and scan of this key."""
        return Synchroniser(self.layout, self.design)

    @cached_property
    def decoder(self) -> Decoder:
        """The staged decoder of this key."""
        return Decoder(self.layout, self.design, self._code, self.bound)

    @property
    def max_decodes(self) -> int:
        """The most words one read checks against the CRC (:class:`FalsePositiveBound`)."""
        return self.bound.max_decodes

    def thresholds(self) -> dict[str, float]:
        """The sync scores at which the bound reaches ``alpha``
        (:meth:`FalsePositiveBound.thresholds`)."""
        return self.bound.thresholds()

    # ------------------------------------------------------------------ embedding
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
        full8 = np.asarray(image)
        h, w = full8.shape[:2]
        scale = min(1.0, d.work_short / min(h, w))
        ww, wh = max(1, round(w * scale)), max(1, round(h * scale))
        small = (
            image
            if scale >= 1.0
            else image.resize(
                (ww, wh), Image.Resampling.BILINEAR, reducing_gap=d.embed_reducing_gap
            )
        )
        rgb8 = np.asarray(small)
        y = luma(rgb8)
        mask = embed_mask(y, rgb8, d)
        if float(np.mean(mask > d.mask_live)) < d.min_live_share:
            raise WatermarkError(
                f"image {w}x{h} has almost no pixels that can change without clipping "
                "(nearly all black or white); cannot embed a robust mark"
            )
        carriers = symbols(payload, self.layout, d, self._code) * np.exp(1j * self.layout.theta)
        sp = 5 * d.step_for(min(h, w))
        variant = variant_of(self._key, payload, d)
        tiler = PatternTiler(self.layout, d, carriers, sp, (wh, ww), variant)
        # Host content at the pattern's lines, as the decoder will measure it.
        r, wt = residual(y, d.highpass_sigma, d.weight_power)
        host_lines = tiler.host_lines(r * wt)
        budget = Budget.for_image(full8, rgb8, d)
        delta, t = choose_change(tiler, host_lines, wt, mask, budget)
        return Image.fromarray(finish(full8, delta, t, budget), "RGB")

    # ------------------------------------------------------------------ extraction
    def decode_space(self, image: Image.Image) -> NDArray[np.float32]:
        """The luminance the decoder reads: ``image`` scaled to a short side of
        ``work_short``."""
        w, h = image.size
        s = self.design.work_short / min(w, h)
        if abs(s - 1.0) > 1e-9:
            size = (max(1, round(w * s)), max(1, round(h * s)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        return luma(image)

    def whitened(self, image: Image.Image) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """The decode space's weighted high-pass residual and its weights
        (:func:`~synthmark.watermark.whiten.residual`)."""
        d = self.design
        r, wt = residual(self.decode_space(image), d.highpass_sigma, power=d.weight_power)
        return r * wt, wt

    def extract(self, image: Image.Image) -> Readout:
        """Read the mark. Never raises for an unmarked image: it reads ``absent``.

        Raises:
            ImageTooSmall: the short side is under :attr:`min_read_side`.
        """
        image = self._check_image(image, self.min_read_side)
        return self._search(image, *self.whitened(image))

    @cached_property
    def _lines(self) -> NDArray[np.int_]:
        """The sync and data lines: what the keyless search scores lattices by."""
        return np.concatenate([self.layout.sync, self.layout.data])

    def _scorer(self, rw: NDArray) -> LineScorer:
        """The keyless line scorer of ``rw`` (:func:`~..lattice.line_scorer`)."""
        return line_scorer(rw, self._lines, self.design.search)

    def _search(
        self, image: Image.Image, rw: NDArray, wt: NDArray, scorer: LineScorer | None = None
    ) -> Readout:
        """The staged read of a checked ``image`` from its :meth:`whitened` residual (and
        its :meth:`_scorer`, if at hand)."""
        d = self.design
        scorer = scorer or self._scorer(rw)
        global_peaks(scorer, d.search, max(d.search.n_global, d.scan_global))  # kept
        periods = self.sync.nominal_periods(image.size)
        gates = (d.candidate_gate, d.nominal_gate)
        lattices = find_lattices(rw, self._lines, periods, d.search, scorer, *gates)
        outcome = self.decoder.read(
            rw,
            wt,
            lattices,
            self.sync,
            partial(affine_lattices, scorer, d.affine),
            lambda: global_peaks(scorer, d.search, d.scan_global)
            + global_peaks(scorer, d.search, d.scan_sharp, sharp=True),
            crop_periods(d, min(image.size)),
        )
        return self._readout(image, outcome)

    def read_back(self, image: Image.Image) -> Readout:
        """:meth:`extract` of an image as marked (not cropped, turned or resized since):
        the nominal lattices are the first candidates of the keyless search, so a mark
        that decodes on one of them reads exactly as :meth:`extract` reads it, and the
        search (two thirds of a read) is skipped; otherwise the full read decides, on the
        same residual.

        Raises:
            ImageTooSmall: the short side is under :attr:`min_read_side`.
        """
        checked = self._check_image(image, self.min_read_side)
        rw, wt = self.whitened(checked)
        d = self.design
        # as extract: the nominal lattices' scores only matter if they are gated
        scorer = self._scorer(rw) if d.nominal_gate > 0.0 else None
        nominal = nominal_lattices(self.sync.nominal_periods(checked.size), d.search, scorer)
        lattices = [lat for lat in nominal if scorer is None or lat.score >= d.nominal_gate]
        outcome = self.decoder.first(rw, wt, lattices, self.sync)
        if outcome is None:
            return self._search(checked, rw, wt, scorer)
        return self._readout(checked, outcome)

    def _readout(self, image: Image.Image, outcome: Outcome) -> Readout:
        details = self._details(image, outcome)
        if outcome.status is WatermarkStatus.PRESENT:
            details["stage"] = outcome.stage.value
        return Readout(
            self.name,
            outcome.status,
            outcome.payload,
            outcome.p_value,
            1.0 - outcome.p_value,
            details,
        )

    def _details(self, image: Image.Image, outcome: Outcome) -> dict[str, Any]:
        al = outcome.alignment
        return {
            "sync_z": round(al.z, 3),
            "p_sync": outcome.p_sync,
            "period_px": round(al.lattice.period * min(image.size) / self.design.work_short, 2),
            "angle_deg": round(al.lattice.angle, 2),
            "symmetry": al.symmetry,
            **outcome.info,
        } | self._frame_details(image.size, outcome)

    def _frame_details(self, size: tuple[int, int], outcome: Outcome) -> dict[str, Any]:
        if outcome.payload is None:
            return {}
        variant = variant_of(self._key, outcome.payload, self.design)
        return {"frame": self.frame(size, outcome.alignment, variant).to_dict()}

    def frame(self, size: tuple[int, int], al: Alignment, variant: Variant = PLAIN) -> Frame:
        """Where an image of ``size`` (width, height), aligned as ``al``, sits in the
        marked original's lattice (:class:`~synthmark.watermark.attribution.Frame`), for a
        mark drawn with ``variant``.

        The decoder folds decode-space pixel ``x`` (relative to the decode image's centre)
        to lattice-cell coordinates ``B^-1 x``; the pattern's own cell coordinates are
        ``w = M^T B^-1 x - shift / shift_grid`` for the aligned symmetry ``M`` (see
        :meth:`~.sync.Synchroniser.align`), and the marked original's ``D (w + v)`` for the
        variant's symmetry ``D`` and offset ``v``. A decode-space pixel ``j`` is image
        pixel ``i`` scaled about pixel centres: ``j + 0.5 = s (i + 0.5)``.
        """
        w, h = size
        s = self.design.work_short / min(w, h)
        wd, hd = (max(1, round(w * s)), max(1, round(h * s))) if abs(s - 1.0) > 1e-9 else (w, h)
        scale = np.diag([wd / w, hd / h])
        to_cell = D4[al.symmetry].T @ np.linalg.inv(al.lattice.basis)
        centre = np.array([wd / 2.0, hd / 2.0])
        matrix = to_cell @ scale
        offset = to_cell @ (0.5 * np.diag(scale) - 0.5 - centre)
        offset -= np.asarray(al.shift) / self.design.shift_grid
        turn = variant.symmetry.astype(np.float64)
        return Frame(turn @ matrix, turn @ (offset + variant.offset))
