"""IPTC digital source types: the vocabulary that C2PA actions and XMP share.

The IPTC NewsCodes vocabulary (``http://cv.iptc.org/newscodes/digitalsourcetype/``) says how
a picture came to be. C2PA's ``digitalSourceType`` and XMP's ``Iptc4xmpExt:DigitalSourceType``
both hold one of its URIs; older files hold only the short name, or the URI over https.
"""

from __future__ import annotations

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

TRAINED_ALGORITHMIC_MEDIA = IPTC_PREFIX + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC_PREFIX + "compositeWithTrainedAlgorithmicMedia"

#: Short names that declare generative-AI involvement. ``algorithmicMedia`` (made by an
#: algorithm without training data, such as a procedural gradient), ``compositeSynthetic``
#: (which may be CGI) and ``algorithmicallyEnhanced`` (a minor correction) do not.
AI_SOURCE_TYPES = frozenset({"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"})


def short_name(value: str) -> str:
    """``trainedAlgorithmicMedia`` from any spelling: full URI (http or https) or short name."""
    text = value.strip().rstrip("/")
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    return text


def declares_ai(value: str) -> bool:
    """Whether a digital source type says generative AI was involved."""
    return short_name(value) in AI_SOURCE_TYPES


__all__ = [
    "AI_SOURCE_TYPES",
    "COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA",
    "IPTC_PREFIX",
    "TRAINED_ALGORITHMIC_MEDIA",
    "declares_ai",
    "short_name",
]
