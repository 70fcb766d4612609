"""The named choices the library and the command line share, in one light module.

Each is a ``str`` enum: the library takes it (or its value) as a parameter, and the
command line offers its values as the choices of an option. This module imports nothing but
the standard library, so that ``synthmark --help`` starts without torch, numpy or Pillow.

>>> from synthmark.choices import OutputFormat, VerdictLabel
>>> OutputFormat("jpeg").suffix
'.jpg'
>>> VerdictLabel.synthetic.rank > VerdictLabel.likely_synthetic.rank
True
"""

from __future__ import annotations

from enum import Enum


class OutputFormat(str, Enum):
    """File formats whose labels synthmark writes."""

    png = "png"
    jpeg = "jpeg"
    webp = "webp"

    @property
    def pil_name(self) -> str:
        """Pillow's name of the format: ``PNG``, ``JPEG``, ``WEBP``."""
        return {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[self.value]

    @property
    def suffix(self) -> str:
        """The file name suffix written: ``.png``, ``.jpg``, ``.webp``."""
        return {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}[self.value]


class Device(str, Enum):
    """Where a diffusion pipeline runs (``auto``: CUDA, then Apple MPS, then the CPU)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class DType(str, Enum):
    """Floating-point precision of a diffusion pipeline (``auto``: fp16 on CUDA)."""

    auto = "auto"
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


class VerdictLabel(str, Enum):
    """The three verdicts of screening; :attr:`rank` orders them."""

    synthetic = "synthetic"
    likely_synthetic = "likely_synthetic"
    no_evidence = "no_evidence"

    @property
    def rank(self) -> int:
        """0 for ``no_evidence``, 1 for ``likely_synthetic``, 2 for ``synthetic``."""
        return {"no_evidence": 0, "likely_synthetic": 1, "synthetic": 2}[self.value]


class FailOn(str, Enum):
    """The verdicts a screening run can be told to fail at (``--fail-on``)."""

    synthetic = "synthetic"
    likely_synthetic = "likely_synthetic"

    @property
    def verdict(self) -> VerdictLabel:
        return VerdictLabel(self.value)


class ScreenBackend(str, Enum):
    """Where a batch is screened: a local process pool, or Ray (the ``ray`` extra)."""

    local = "local"
    ray = "ray"


class RecordStatus(str, Enum):
    """Where a registry serial is in its life: reserved before watermarking, then committed
    or abandoned (the generation failed). Serials are never reused."""

    RESERVED = "reserved"
    COMMITTED = "committed"
    ABANDONED = "abandoned"


class StatusFilter(str, Enum):
    """A :class:`RecordStatus` to select records by, or ``all``."""

    all = "all"
    committed = "committed"
    reserved = "reserved"
    abandoned = "abandoned"


class DetectorHead(str, Enum):
    """The detector's classifier heads (equal to ``synthmark.detect.heads.HEADS``; a test
    keeps them in step)."""

    novelty = "novelty"
    logistic = "logistic"
    mlp = "mlp"


class FoldSplit(str, Enum):
    """How a detector's validation folds are cut: whole sources held out, or by
    near-duplicate group."""

    source = "source"
    group = "group"


class ThresholdRule(str, Enum):
    """How a detector's threshold meets its target false-positive rate: over all real
    validation photos pooled, or on each real source."""

    pooled = "pooled"
    source = "source"


class DetectorExport(str, Enum):
    """Formats a detector is exported to."""

    onnx = "onnx"


class WatermarkSchemeName(str, Enum):
    """The registered watermark schemes (equal to ``synthmark.watermark.list_schemes()``;
    a test keeps them in step)."""

    synthmark = "synthmark"
    dwtDct = "dwtDct"
    dwtDctSvd = "dwtDctSvd"
    rivaGan = "rivaGan"
    sd1 = "sd1"
    sd2 = "sd2"
    sdxl = "sdxl"


class ReadScheme(str, Enum):
    """A watermark scheme to read, or ``auto``: synthmark's (if a key exists) and the
    Stable Diffusion public marks."""

    auto = "auto"
    synthmark = "synthmark"
    dwtDct = "dwtDct"
    dwtDctSvd = "dwtDctSvd"
    rivaGan = "rivaGan"
    sd1 = "sd1"
    sd2 = "sd2"
    sdxl = "sdxl"


class Attribution(str, Enum):
    """Whether a present synthmark mark belongs to the picture it is on
    (:mod:`synthmark.watermark.attribution`): the ``attribution`` of a readout, of
    ``watermark read``'s records and of each screening record's watermark layer."""

    BOUND = "bound"
    COPIED = "copied"
    UNREGISTERED = "unregistered"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


__all__ = [
    "Attribution",
    "DType",
    "DetectorExport",
    "DetectorHead",
    "Device",
    "FailOn",
    "FoldSplit",
    "OutputFormat",
    "ReadScheme",
    "RecordStatus",
    "ScreenBackend",
    "StatusFilter",
    "VerdictLabel",
    "WatermarkSchemeName",
]
