"""invisible-watermark's methods (``dwtDct``, ``dwtDctSvd``, ``rivaGan``) as synthmark schemes.

These are the marks Stable Diffusion ships. They are here for comparison and for reading
the public SD marks (:mod:`synthmark.watermark.public`), not as synthmark's own mark.

Two departures from calling ``imwatermark`` directly, both so that reading a watermark never
imports torch (``imwatermark/__init__`` imports its rivaGan wrapper, which imports torch):

* the ``maxDct`` and ``dwtDctSvd`` modules are loaded from the installed package's files
  without running the package ``__init__``;
* rivaGan's two ONNX models (shipped inside the package) run directly in onnxruntime with
  the same pre- and post-processing as ``imwatermark.rivaGan``.

The ``dwtDct`` decoder is re-implemented with numpy (bit-identical to
``EmbedMaxDct.decode``; a test checks it) because the original loops over 4x4 blocks in
Python and SD readers run it on every screened image. Embedding always uses the package.

The original decoders return bits for any image. Here each generic scheme appends a CRC to
its payload and reads ``present`` only when the CRC checks; it still cannot tell
``damaged`` from ``absent``, and its false-positive rate is measured, not bounded
(``p_value`` is ``None``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.errors import UsageError, WatermarkError
from synthmark.watermark.base import Readout, WatermarkScheme, WatermarkStatus
from synthmark.watermark.ecc import bits_to_bytes, bytes_to_bits, crc16

__all__ = ["InvisibleWatermarkScheme", "crc8", "dwtdct_block_scores", "load_imwatermark_module"]

#: invisible-watermark's defaults: (Y, U, V) quantisation scales and the DCT block size.
DWTDCT_SCALES = (0, 36, 36)
DWTDCTSVD_SCALES = (0, 36, 0)
BLOCK = 4


def _package_dir() -> Path:
    spec = importlib.util.find_spec("imwatermark")
    if spec is None or not spec.submodule_search_locations:
        raise WatermarkError(
            "the invisible-watermark package is not installed: pip install invisible-watermark"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_imwatermark_module(name: str) -> ModuleType:
    """Load ``imwatermark/<name>.py`` without the package ``__init__`` (which imports torch)."""
    path = _package_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_synthmark_imwatermark_{name}", path)
    if spec is None or spec.loader is None:
        raise WatermarkError(f"cannot load {path} from invisible-watermark")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def crc8(bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """CRC-8 (poly 0x07, init 0xFF) of a bit array, as 8 bits, MSB first."""
    reg = 0xFF
    for b in bits:
        top = ((reg >> 7) & 1) ^ int(b)
        reg = (reg << 1) & 0xFF
        if top:
            reg ^= 0x07
    return np.array([(reg >> (7 - i)) & 1 for i in range(8)], np.uint8)


def _bgr(image: Image.Image) -> NDArray[np.uint8]:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def dwtdct_block_scores(bgr: NDArray[np.uint8], scale: int = 36) -> NDArray[np.float64]:
    """Per-block bit votes of invisible-watermark's ``dwtDct`` decoder, in block order.

    Same arithmetic as ``EmbedMaxDct.decode``: BGR -> YUV (OpenCV), Haar DWT of the U
    channel, 4x4 blocks of the approximation band, the largest non-DC coefficient of each
    block, and the vote ``(|v| mod scale) > scale / 2``. The channel loop of the original
    only ever reaches U (its ``range(2)`` skips V, and Y has scale 0).
    """
    import cv2
    import pywt

    rows, cols = bgr.shape[:2]
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV)
    ca, _ = pywt.dwt2(yuv[: rows // 4 * 4, : cols // 4 * 4, 1], "haar")
    br, bc = ca.shape[0] // BLOCK, ca.shape[1] // BLOCK
    blocks = (
        ca[: br * BLOCK, : bc * BLOCK]
        .reshape(br, BLOCK, bc, BLOCK)
        .transpose(0, 2, 1, 3)
        .reshape(br * bc, BLOCK * BLOCK)
    )
    rest = blocks[:, 1:]
    pos = np.argmax(np.abs(rest), axis=1)
    val = np.abs(rest[np.arange(len(rest)), pos])
    return ((val % scale) > 0.5 * scale).astype(np.float64)


def votes_to_bits(votes: NDArray[np.float64], n_bits: int) -> tuple[NDArray[np.uint8], NDArray]:
    """Average the block votes of each bit (block ``i`` votes for bit ``i mod n``).

    Returns the bits (as the original decoder rounds them) and the mean vote of each bit.
    """
    idx = np.arange(len(votes)) % n_bits
    mean = np.bincount(idx, votes, n_bits) / np.maximum(np.bincount(idx, None, n_bits), 1)
    return (mean * 255 > 127).astype(np.uint8), mean


class InvisibleWatermarkScheme(WatermarkScheme):
    """One of invisible-watermark's methods with a CRC appended to the payload.

    Args:
        method: ``dwtDct``, ``dwtDctSvd`` or ``rivaGan``.
    """

    needs_key = False
    min_side = 256
    _LAYOUT: ClassVar[dict[str, tuple[int, int]]] = {
        # method: (payload bits, CRC bits); rivaGan's model carries exactly 32 bits
        "dwtDct": (48, 16),
        "dwtDctSvd": (48, 16),
        "rivaGan": (24, 8),
    }

    def __init__(self, method: str) -> None:
        if method not in self._LAYOUT:
            raise UsageError(
                f"unknown invisible-watermark method {method!r}; known: {', '.join(self._LAYOUT)}"
            )
        self.method = method
        self.name = method
        self.payload_bits, self.crc_bits = self._LAYOUT[method]
        self._modules: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"InvisibleWatermarkScheme({self.method!r})"

    @property
    def total_bits(self) -> int:
        """Bits written into the image (payload and CRC)."""
        return self.payload_bits + self.crc_bits

    def _crc(self, bits: NDArray[np.uint8]) -> NDArray[np.uint8]:
        return crc16(bits) if self.crc_bits == 16 else crc8(bits)

    # -- the three back ends ----------------------------------------------------------
    def _module(self, name: str) -> Any:
        if name not in self._modules:
            self._modules[name] = load_imwatermark_module(name)
        return self._modules[name]

    def _rivagan(self, which: str) -> Any:
        key = f"onnx-{which}"
        if key not in self._modules:
            try:
                import onnxruntime
            except ImportError:
                raise WatermarkError(
                    "rivaGan needs onnxruntime: pip install 'synthmark[rivagan]'"
                ) from None
            path = _package_dir() / f"rivagan_{which}.onnx"
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            self._modules[key] = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        return self._modules[key]

    @staticmethod
    def _riva_frame(bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
        frame = bgr.astype(np.float32) / 127.5 - 1.0
        return np.ascontiguousarray(frame.transpose(2, 0, 1)[None, :, None, :, :])

    def embed_bits(self, image: Image.Image, bits: NDArray[np.uint8]) -> Image.Image:
        """Write raw ``bits`` with this method (no CRC); used by the public SD marks too."""
        image = self._check_image(image)
        bgr = _bgr(image)
        bit_list = [int(b) for b in bits]
        if self.method == "dwtDct":
            enc = self._module("maxDct").EmbedMaxDct(
                bit_list, wmLen=len(bit_list), scales=list(DWTDCT_SCALES), block=BLOCK
            )
            out = enc.encode(bgr)
        elif self.method == "dwtDctSvd":
            enc = self._module("dwtDctSvd").EmbedDwtDctSvd(
                bit_list, wmLen=len(bit_list), scales=list(DWTDCTSVD_SCALES), block=BLOCK
            )
            out = enc.encode(bgr)
        else:
            if len(bit_list) != 32:
                raise UsageError(f"rivaGan carries exactly 32 bits, got {len(bit_list)}")
            session = self._rivagan("encoder")
            data = np.array([bit_list], np.float32)
            (wm,) = session.run(None, {"frame": self._riva_frame(bgr), "data": data})
            wm = np.clip(wm, -1.0, 1.0)
            out = ((wm[0, :, 0].transpose(1, 2, 0) + 1.0) * 127.5).astype(np.uint8)
        rgb = np.clip(np.asarray(out)[:, :, ::-1], 0, 255).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(rgb), "RGB")

    def read_bits(self, image: Image.Image, n_bits: int) -> NDArray[np.uint8]:
        """Raw ``n_bits`` as this method's decoder reads them (always returns bits)."""
        image = self._check_image(image)
        bgr = _bgr(image)
        if self.method == "dwtDct":
            bits, _ = votes_to_bits(dwtdct_block_scores(bgr, DWTDCT_SCALES[1]), n_bits)
            return bits
        if self.method == "dwtDctSvd":
            dec = self._module("dwtDctSvd").EmbedDwtDctSvd(
                [], wmLen=n_bits, scales=list(DWTDCTSVD_SCALES), block=BLOCK
            )
            return np.asarray(dec.decode(bgr), np.uint8)
        session = self._rivagan("decoder")
        (out,) = session.run(None, {"frame": self._riva_frame(bgr)})
        return (out[0] > 0.52).astype(np.uint8)[:n_bits]

    # -- the scheme interface ---------------------------------------------------------
    def embed(self, image: Image.Image, payload: bytes) -> Image.Image:
        """Write ``payload`` and its CRC with this method."""
        payload = self._check_payload(payload)
        bits = bytes_to_bits(payload)[: self.payload_bits]
        return self.embed_bits(image, np.concatenate([bits, self._crc(bits)]))

    def extract(self, image: Image.Image) -> Readout:
        """Read the bits; ``present`` when the CRC checks, else ``absent``."""
        raw = self.read_bits(image, self.total_bits)
        data, check = raw[: self.payload_bits], raw[self.payload_bits :]
        ok = bool(np.array_equal(self._crc(data), check))
        details: dict[str, Any] = {
            "crc_ok": ok,
            "raw_bits": "".join(str(int(b)) for b in raw),
            "nominal_false_positive": math.ldexp(1.0, -self.crc_bits),
        }
        if ok:
            return Readout(
                self.name, WatermarkStatus.PRESENT, bits_to_bytes(data), None, None, details
            )
        return Readout(self.name, WatermarkStatus.ABSENT, None, None, None, details)
