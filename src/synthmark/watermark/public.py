"""Stable Diffusion's public watermarks, read (and written) through invisible-watermark.

=========  =====================================================  ======  ========
name       message                                                bits    method
=========  =====================================================  ======  ========
``sd1``    the bytes ``StableDiffusionV1`` (CompVis scripts)       136     dwtDct
``sd2``    the bytes ``SDV2`` (Stability's SD 2.x scripts)          32     dwtDct
``sdxl``   ``0b101100111110110010010000011110111011000110011110``   48     dwtDct
=========  =====================================================  ======  ========

The message is public, so reading means counting how many decoded bits agree with it. The
decoder returns bits from any image, and on unmarked images they lean towards all-0 or
all-1 rather than being fair coins, so a binomial p-value would be wrong. Each threshold
was therefore set on real unmarked images (:data:`CALIBRATION` gives the numbers;
``synthmark watermark bench --calibrate`` re-measures them) and no p-value is claimed:
``p_value`` is ``None`` and ``details`` carries the agreement and the measured
false-positive rate at the threshold.

SDXL's two pipelines disagree on channel order (Stability's ``sgm`` converts RGB to BGR
before ``encode``; diffusers passes RGB), so both orders are read and the better one counts;
the calibration measured that maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.errors import UsageError
from synthmark.watermark.base import Readout, WatermarkScheme, WatermarkStatus
from synthmark.watermark.ecc import bytes_to_bits
from synthmark.watermark.invisible import (
    DWTDCT_SCALES,
    InvisibleWatermarkScheme,
    dwtdct_block_scores,
    votes_to_bits,
)

__all__ = ["CALIBRATION", "PUBLIC_MARKS", "PublicMark", "PublicMarkScheme", "read_public_marks"]


@dataclass(frozen=True)
class PublicMark:
    """A fixed public message and the agreement needed to call it present."""

    name: str
    description: str
    bits: tuple[int, ...]
    threshold: int

    @property
    def n_bits(self) -> int:
        return len(self.bits)


_SDXL_BITS = "101100111110110010010000011110111011000110011110"

PUBLIC_MARKS: dict[str, PublicMark] = {
    m.name: m
    for m in (
        PublicMark(
            "sd1",
            "Stable Diffusion 1.x (bytes 'StableDiffusionV1', dwtDct)",
            tuple(int(b) for b in bytes_to_bits(b"StableDiffusionV1")),
            96,
        ),
        PublicMark(
            "sd2",
            "Stable Diffusion 2.x (bytes 'SDV2', dwtDct)",
            tuple(int(b) for b in bytes_to_bits(b"SDV2")),
            29,
        ),
        PublicMark(
            "sdxl",
            "Stable Diffusion XL (48 fixed bits, dwtDct)",
            tuple(int(b) for b in _SDXL_BITS),
            41,
        ),
    )
}

#: Measured with ``synthmark watermark bench --calibrate`` on every image of
#: ``shared/data/detector`` (2,410 real photos and SD 1.x/2.x images) as is, centre-cropped to
#: half its area and resized by 0.75: 7,230 reads. Each threshold is the larger of the binomial
#: 1e-6 point (what it would be if unmarked bits were fair coins) and the largest agreement
#: seen on unmarked images plus a margin; none of the 7,230 reads reaches it (95% upper
#: bound on the false-positive rate: 3/7,230 = 4.1e-4).
CALIBRATION: dict[str, dict[str, Any]] = {
    "sd1": {"reads": 7230, "max_unmarked": 87, "false_positives": 0},
    "sd2": {"reads": 7230, "max_unmarked": 24, "false_positives": 0},
    "sdxl": {"reads": 7230, "max_unmarked": 36, "false_positives": 0},
}


def _orders(image: Image.Image) -> dict[str, NDArray[np.uint8]]:
    rgb = np.asarray(image.convert("RGB"))
    return {
        "bgr": np.ascontiguousarray(rgb[:, :, ::-1]),  # what cv2-based scripts pass
        "rgb": np.ascontiguousarray(rgb),  # what diffusers passes
    }


def agreements(image: Image.Image) -> dict[str, tuple[int, str]]:
    """For each public mark: the best bit agreement over both channel orders, and the order."""
    votes = {
        order: dwtdct_block_scores(arr, DWTDCT_SCALES[1]) for order, arr in _orders(image).items()
    }
    out: dict[str, tuple[int, str]] = {}
    for mark in PUBLIC_MARKS.values():
        message = np.array(mark.bits, np.uint8)
        best = (-1, "")
        for order, v in votes.items():
            bits, _ = votes_to_bits(v, mark.n_bits)
            agree = int(np.sum(bits == message))
            if agree > best[0]:
                best = (agree, order)
        out[mark.name] = best
    return out


def _readout(mark: PublicMark, agree: int, order: str) -> Readout:
    cal = CALIBRATION.get(mark.name, {})
    reads = int(cal.get("reads", 0))
    details: dict[str, Any] = {
        "agreement": agree,
        "n_bits": mark.n_bits,
        "threshold": mark.threshold,
        "channel_order": order,
        "measured_fpr": cal.get("false_positives", 0) / reads if reads else None,
        "measured_fpr_upper95": 3.0 / reads if reads else None,
        "calibration_reads": reads,
    }
    status = WatermarkStatus.PRESENT if agree >= mark.threshold else WatermarkStatus.ABSENT
    present = status is WatermarkStatus.PRESENT
    payload = bytes(np.packbits(np.array(mark.bits, np.uint8))) if present else None
    return Readout(mark.name, status, payload, None, agree / mark.n_bits, details)


def read_public_marks(image: Image.Image) -> list[Readout]:
    """Read SD 1.x, SD 2.x and SDXL marks (one ``dwtDct`` pass per channel order)."""
    w, h = image.size
    if w * h < 256 * 256:
        # invisible-watermark refuses images under 256x256 pixels: nothing to read
        return [
            Readout(
                m.name,
                WatermarkStatus.ABSENT,
                None,
                None,
                0.0,
                {"note": f"image {w}x{h} is under the 65,536 pixels dwtDct needs"},
            )
            for m in PUBLIC_MARKS.values()
        ]
    found = agreements(image)
    return [_readout(PUBLIC_MARKS[name], *found[name]) for name in PUBLIC_MARKS]


class PublicMarkScheme(WatermarkScheme):
    """One public SD mark as a scheme: ``embed`` writes the fixed message (payload ``b""``),
    ``extract`` reads it against the calibrated threshold."""

    needs_key = False
    min_side = 256
    payload_bits = 0

    def __init__(self, name: str) -> None:
        if name not in PUBLIC_MARKS:
            raise UsageError(f"unknown public mark {name!r}; known: {', '.join(PUBLIC_MARKS)}")
        self.mark = PUBLIC_MARKS[name]
        self.name = name
        self._writer = InvisibleWatermarkScheme("dwtDct")

    def __repr__(self) -> str:
        return f"PublicMarkScheme({self.name!r})"

    def embed(self, image: Image.Image, payload: bytes = b"") -> Image.Image:
        """Write this mark's fixed message the way the CompVis/Stability scripts do (BGR)."""
        if payload:
            raise UsageError(f"scheme {self.name!r} writes a fixed public message; pass b''")
        image = self._check_image(image)
        return self._writer.embed_bits(image, np.array(self.mark.bits, np.uint8))

    def extract(self, image: Image.Image) -> Readout:
        image = self._check_image(image)
        agree, order = agreements(image)[self.name]
        return _readout(self.mark, agree, order)
