"""The registry's records and lookup results."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from synthmark.choices import RecordStatus


@dataclass
class GenerationRecord:
    """One generated image: its serial (what the watermark carries) and what made it.

    Times are UTC. ``phash`` is 16 hex digits. ``prompt`` is kept only when the user
    opted in; ``prompt_hash`` (SHA-256 of the UTF-8 prompt) always is.
    """

    serial: int
    status: RecordStatus
    reserved_at: dt.datetime
    created_at: dt.datetime | None = None
    watermark_scheme: str | None = None
    model_id: str | None = None
    model_hash: str | None = None
    pipeline: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    prompt_hash: str | None = None
    prompt: str | None = None
    sha256: str | None = None
    phash: str | None = None
    manifest_id: str | None = None
    image_format: str | None = None
    width: int | None = None
    height: int | None = None
    note: str | None = None


@dataclass
class PhashMatch:
    """A record whose perceptual hash lies ``distance`` bits from the query's."""

    record: GenerationRecord
    distance: int


@dataclass
class RegistryLookup:
    """What the registry knows about one image: exact (SHA-256) and perceptual matches."""

    sha256: str
    phash: str
    radius: int
    exact: list[GenerationRecord] = field(default_factory=list)
    similar: list[PhashMatch] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.exact or self.similar)


__all__ = ["GenerationRecord", "PhashMatch", "RecordStatus", "RegistryLookup"]
