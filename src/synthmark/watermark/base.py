"""What every watermark scheme shares: the :class:`Readout` it returns and its interface.

A scheme embeds a fixed-length payload into pixels and reads it back blind (from the
image alone):

>>> marked = scheme.embed(image, bytes.fromhex("00000000000004d2"))   # doctest: +SKIP
>>> scheme.extract(marked)                                           # doctest: +SKIP
Readout(scheme='synthmark', status=<WatermarkStatus.PRESENT: 'present'>, payload=b'...', ...)

A readout is *present* only when the scheme can vouch for the payload, *damaged* when a
mark is clearly there but its payload does not decode, and *absent* otherwise.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PIL import Image

from synthmark.errors import ImageTooSmall, UsageError, WatermarkError

__all__ = [
    "READBACK_HINT",
    "Readout",
    "WatermarkScheme",
    "WatermarkStatus",
    "check_readback",
    "embed_checked",
]

#: why a mark may not read back, the end of the error when it does not
READBACK_HINT = (
    "the image may be too small or too flat to carry it, or almost all pure black and "
    "white (line art), where the mark cannot go without clipping"
)


class WatermarkStatus(str, enum.Enum):
    """Outcome of reading one scheme's watermark from one image."""

    PRESENT = "present"
    ABSENT = "absent"
    DAMAGED = "damaged"

    def __str__(self) -> str:
        return self.value


@dataclass
class Readout:
    """The result of :meth:`WatermarkScheme.extract`.

    Attributes:
        scheme: the scheme's registry name.
        status: present, absent or damaged.
        payload: the decoded payload when present (for public marks: the known message).
        p_value: an upper bound on the probability that an image *without* this mark reads
            at least this strongly (the false-positive probability of this readout); ``None``
            when the scheme cannot give one.
        confidence: ``1 - p_value`` where there is a p-value, else a scheme-specific score
            in [0, 1] (documented by the scheme).
        details: scheme-specific numbers (bit errors, sync score, lattice, ...).
        attribution: for synthmark's own mark when present, whether it belongs to this
            picture: ``bound``, ``copied``, ``unregistered`` or ``unknown``
            (:mod:`synthmark.watermark.attribution`); None until the registry was asked,
            and for other schemes.
    """

    scheme: str
    status: WatermarkStatus
    payload: bytes | None = None
    p_value: float | None = None
    confidence: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    attribution: str | None = None

    @property
    def present(self) -> bool:
        """True when the status is :attr:`WatermarkStatus.PRESENT`."""
        return self.status is WatermarkStatus.PRESENT


class WatermarkScheme(ABC):
    """An invisible watermark: ``embed(image, payload) -> image``, ``extract(image) -> Readout``.

    Subclasses set :attr:`name`, :attr:`payload_bits`, :attr:`min_side` and
    :attr:`needs_key`. ``embed`` never skips silently: it raises :class:`ImageTooSmall`
    or :class:`WatermarkError` when the mark cannot be applied as asked.
    """

    name: str = ""
    needs_key: ClassVar[bool] = False
    #: the shortest image side (pixels) that embed accepts
    min_side: ClassVar[int] = 256
    payload_bits: int = 0

    @abstractmethod
    def embed(self, image: Image.Image, payload: bytes) -> Image.Image:
        """Return a marked copy of ``image`` (RGB) carrying ``payload``."""

    @abstractmethod
    def extract(self, image: Image.Image) -> Readout:
        """Read this scheme's mark from ``image``."""

    def read_back(self, image: Image.Image) -> Readout:
        """Read a freshly marked ``image`` (its geometry is the embedding's own), for
        :func:`check_readback`. :meth:`extract` by default; a scheme may skip its geometric
        search here, as long as a mark it reads present is the readout :meth:`extract`
        gives."""
        return self.extract(image)

    def fallbacks(self) -> list[WatermarkScheme]:
        """Other embedders whose marks this scheme's :meth:`extract` reads (same key, same
        decoder), trading some robustness for readability on images where the default
        embedding does not read back: :func:`embed_checked` tries them in order. None by
        default."""
        return []

    # -- helpers for subclasses -------------------------------------------------------
    @property
    def payload_bytes(self) -> int:
        """Payload size in bytes."""
        return (self.payload_bits + 7) // 8

    def _check_payload(self, payload: bytes) -> bytes:
        if not isinstance(payload, (bytes, bytearray)):
            raise UsageError(f"payload must be bytes, got {type(payload).__name__}")
        if len(payload) != self.payload_bytes:
            raise UsageError(
                f"scheme {self.name!r} carries {self.payload_bits} bits ({self.payload_bytes} "
                f"bytes); got {len(payload)} bytes ({bytes(payload).hex() or 'empty'})"
            )
        spare = self.payload_bytes * 8 - self.payload_bits
        if spare and bytes(payload)[-1] & ((1 << spare) - 1):
            raise UsageError(
                f"scheme {self.name!r} carries {self.payload_bits} bits; the last {spare} bits "
                f"of the payload must be zero"
            )
        return bytes(payload)

    def _check_image(self, image: Image.Image, min_side: int | None = None) -> Image.Image:
        if not isinstance(image, Image.Image):
            raise UsageError(f"image must be a PIL image, got {type(image).__name__}")
        need = self.min_side if min_side is None else min_side
        w, h = image.size
        if min(w, h) < need:
            raise ImageTooSmall(
                f"image is {w}x{h}; scheme {self.name!r} needs at least {need} px on the "
                f"short side (upscale it first, or choose another scheme)"
            )
        if image.mode != "RGB":
            image = image.convert("RGB")
        return image


def check_readback(
    scheme: WatermarkScheme,
    image: Image.Image,
    payload: bytes,
    hint: str = READBACK_HINT,
) -> Readout:
    """Read ``scheme``'s mark from a freshly marked ``image`` and check it carries ``payload``
    (for fixed-message schemes, ``payload=b""``: that the mark is present).

    Embedding never counts as done until the mark reads back.

    Raises:
        WatermarkError: the mark does not read ``present`` with that payload; ``hint`` ends
            the message.
    """
    # a scheme that is not a WatermarkScheme subclass (duck-typed) may lack read_back
    readout = getattr(scheme, "read_back", scheme.extract)(image)
    if not readout.present or (payload and readout.payload != payload):
        raise WatermarkError(
            f"the {scheme.name} watermark did not read back after embedding "
            f"(status {readout.status}); {hint}"
        )
    return readout


def embed_checked(
    scheme: WatermarkScheme,
    image: Image.Image,
    payload: bytes,
    as_delivered: Callable[[Image.Image], Image.Image] | None = None,
    hint: str = READBACK_HINT,
    marked: Image.Image | None = None,
) -> Image.Image:
    """Embed ``payload`` and return the marked image only once the mark reads back.

    The read is made from ``as_delivered(marked)`` (e.g. the image after the encoding it
    will be saved in), or from the marked image itself. When the mark does not read, each of
    :meth:`WatermarkScheme.fallbacks` is tried in turn, read by ``scheme`` itself. Pass
    ``marked`` when ``scheme.embed(image, payload)`` has already been made.

    Raises:
        WatermarkError: no embedding read back (the last attempt's message, ending in
            ``hint``).
    """
    failures: list[WatermarkError] = []
    for index, embedder in enumerate((scheme, *scheme.fallbacks())):
        candidate = marked if index == 0 and marked is not None else embedder.embed(image, payload)
        probe = candidate if as_delivered is None else as_delivered(candidate)
        try:
            check_readback(scheme, probe, payload, hint)
        except WatermarkError as exc:
            failures.append(exc)
            continue
        return candidate
    raise failures[-1]  # the scheme itself was tried, so there is at least one
