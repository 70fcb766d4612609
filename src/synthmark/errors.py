"""One hierarchy of errors for everything synthmark raises on purpose.

Every message names the bad value and, where there is one, the fix. The command line turns
any :class:`SynthmarkError` into ``Error: <message>`` on stderr and exit status 1.
"""

from __future__ import annotations


class SynthmarkError(Exception):
    """Base class of every error synthmark raises on purpose."""


class UsageError(SynthmarkError, ValueError):
    """A parameter or option has a value that cannot work."""


class UnsupportedImage(SynthmarkError):
    """The input is not an image synthmark can read (empty, unknown format, ...)."""


class CorruptImage(UnsupportedImage):
    """The input claims to be an image but cannot be decoded (truncated, malformed)."""


class ImageTooLarge(UnsupportedImage):
    """The input exceeds a configured limit on bytes or pixels (decompression bombs)."""


class ImageTooSmall(SynthmarkError):
    """The image is too small for the requested operation (a watermark scheme, say)."""


class OutsideDomain(SynthmarkError):
    """The input lies outside what a model was made for (a blank image for the detector)."""


class WatermarkError(SynthmarkError):
    """A watermark could not be embedded as asked."""


class KeyMissing(SynthmarkError):
    """A key or signing credential is required but was not found."""


class LabelError(SynthmarkError):
    """A label (C2PA, XMP, text chunk) could not be written or read as asked."""


class RegistryError(SynthmarkError):
    """The registry could not store or find a record."""


class ModelNotFound(SynthmarkError):
    """A model (diffusion pipeline or detector) is not available where it was asked for."""


class ContentBlocked(SynthmarkError):
    """A model's safety checker blocked an output; nothing was written."""


class UnsafeFile(SynthmarkError):
    """A file would need an unsafe loader (pickle, say) and is refused."""


__all__ = [
    "ContentBlocked",
    "CorruptImage",
    "ImageTooLarge",
    "ImageTooSmall",
    "KeyMissing",
    "LabelError",
    "ModelNotFound",
    "RegistryError",
    "SynthmarkError",
    "UnsafeFile",
    "UnsupportedImage",
    "UsageError",
    "WatermarkError",
]
