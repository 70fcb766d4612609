"""What to label an image with (:class:`LabelRequest`) and what labelling returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from synthmark.errors import UsageError
from synthmark.labels.sourcetypes import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
)


@dataclass
class LabelRequest:
    """The facts a generated image is labelled with.

    ``parameters`` uses AUTOMATIC1111's vocabulary in snake_case: ``prompt``,
    ``negative_prompt``, ``steps``, ``sampler``, ``cfg_scale``, ``seed``, ``size``
    (``"512x512"`` or a pair), ``model``, ``model_hash``; other keys are kept as they are.

    The prompt (and negative prompt) goes into a label only when ``include_prompt`` is
    set: without it they are left out of the C2PA manifest, the XMP packet and the
    ``parameters`` text alike.
    """

    model_id: str
    model_hash: str | None = None
    software_agent: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    watermark_scheme: str | None = "synthmark"
    watermark_serial: int | None = None
    include_prompt: bool = False
    edited: bool = False
    provider: str | None = None
    title: str | None = None
    created_at: dt.datetime | None = None
    credit: str | None = None
    #: An AUTOMATIC1111 parameters text to write as it is, instead of one made from
    #: ``parameters`` (a file's own infotext, kept; it must already leave the prompt out
    #: unless ``include_prompt``).
    parameters_text: str | None = None
    #: The watermark payload the manifest's soft binding names (the bytes a reader extracts);
    #: by default the serial as 8 big-endian bytes, as synthmark's 64-bit mark carries it.
    watermark_payload: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.model_id or not self.model_id.strip():
            raise UsageError("model_id must name the model, got an empty string")
        if self.watermark_serial is not None:
            if isinstance(self.watermark_serial, bool) or not isinstance(
                self.watermark_serial, int
            ):
                raise UsageError(
                    f"watermark_serial must be an integer, got {self.watermark_serial!r}"
                )
            if not 0 <= self.watermark_serial < 2**64:
                raise UsageError(
                    f"watermark_serial must be between 0 and 2**64-1, got {self.watermark_serial}"
                )
            if not self.watermark_scheme:
                raise UsageError("watermark_serial given without watermark_scheme")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise UsageError("created_at must be timezone-aware (UTC), got a naive datetime")

    @property
    def digital_source_type(self) -> str:
        """trainedAlgorithmicMedia, or compositeWithTrainedAlgorithmicMedia for an edit."""
        if self.edited:
            return COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
        return TRAINED_ALGORITHMIC_MEDIA

    @property
    def soft_binding_payload(self) -> bytes | None:
        """The payload named by the ``c2pa.soft-binding`` assertion, or None (no watermark)."""
        if self.watermark_payload is not None:
            return self.watermark_payload
        if self.watermark_serial is None or self.watermark_scheme != "synthmark":
            return None
        return self.watermark_serial.to_bytes(8, "big")

    @property
    def agent(self) -> str:
        """The software agent named in the C2PA action: the model unless told otherwise."""
        return self.software_agent or self.model_id

    def credit_line(self) -> str:
        """A plain-language credit line, such as "Made with AI (model x, by Acme)"."""
        if self.credit:
            return self.credit
        verb = "Edited with AI" if self.edited else "Made with AI"
        by = f", by {self.provider}" if self.provider else ""
        return f"{verb} (model {self.model_id}{by})"

    def shared_parameters(self) -> dict[str, Any]:
        """``parameters`` as they may be written: without prompts unless opted in."""
        if self.include_prompt:
            return dict(self.parameters)
        return {k: v for k, v in self.parameters.items() if k not in ("prompt", "negative_prompt")}

    def timestamp(self) -> dt.datetime:
        """``created_at``, or now (UTC)."""
        return self.created_at or dt.datetime.now(dt.timezone.utc)


@dataclass
class LabelledImage:
    """An encoded, labelled, signed image, the id of its C2PA manifest and the manifest
    store's own bytes (what a manifest repository keeps). ``notes`` say what of a kept
    XMP packet was left out; ``timings`` are seconds spent encoding, signing and verifying."""

    data: bytes = field(repr=False)
    format: str
    mime_type: str
    manifest_id: str
    sha256: str
    validation_state: str
    manifest_store: bytes = field(default=b"", repr=False)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


__all__ = ["LabelRequest", "LabelledImage"]
