"""The registry interface every backend implements, and the logic they share.

A generation goes through the registry in three steps::

    serial = reg.reserve(watermark_scheme="synthmark", model_id="tiny")  # before the mark
    ...embed serial, label, sign...
    reg.commit(serial, data=labelled_bytes, manifest_id=..., parameters=...)   # or:
    reg.abandon(serial, "generation failed: ...")

Serials come from the database, so concurrent writers (processes, hosts) never share one.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from synthmark.errors import RegistryError, UsageError
from synthmark.registry.phash import (
    DEFAULT_RADIUS,
    check_radius,
    parse_phash,
    phash_hex,
    phash_image,
)
from synthmark.registry.record import (
    GenerationRecord,
    PhashMatch,
    RecordStatus,
    RegistryLookup,
)

_PROMPT_KEYS = ("prompt", "negative_prompt")


@dataclass
class CommitFields:
    """The column values of a commit, validated and normalised by :meth:`Registry.commit`."""

    created_at: dt.datetime
    sha256: str
    phash: int
    manifest_id: str | None
    model_id: str | None
    model_hash: str | None
    pipeline: str | None
    parameters_json: str
    prompt_hash: str | None
    prompt: str | None
    image_format: str | None
    width: int | None
    height: int | None


@dataclass(frozen=True)
class Commit:
    """The facts of a final image that complete its reserved serial (:meth:`Registry.commit`).

    Give the final file's bytes as ``data`` (the SHA-256, perceptual hash, format and size
    are computed from them) or give ``sha256`` and ``phash`` directly. The prompt (from
    ``prompt`` or ``parameters["prompt"]``) is stored as a hash; its text, and the negative
    prompt, only with ``keep_prompt``.
    """

    data: bytes | None = field(default=None, repr=False)
    sha256: str | None = None
    phash: int | str | None = None
    manifest_id: str | None = None
    model_id: str | None = None
    model_hash: str | None = None
    pipeline: str | None = None
    parameters: Mapping[str, Any] | None = None
    prompt: str | None = field(default=None, repr=False)
    keep_prompt: bool = False
    image_format: str | None = None
    width: int | None = None
    height: int | None = None
    created_at: dt.datetime | None = None
    #: The marked picture's content description (what its mark is bound to,
    #: :func:`synthmark.watermark.attribution.describe_content`), stored with the commit
    #: (:meth:`Registry.put_content`), and the scheme that wrote the mark.
    content: bytes | None = field(default=None, repr=False)
    content_scheme: str = "synthmark"

    def normalise(self) -> CommitFields:
        """The column values: hashes computed, values checked, the prompt kept or not.

        Raises:
            UsageError: neither ``data`` nor ``sha256`` + ``phash``, or bad values.
        """
        sha256, phash, image_format = self.sha256, self.phash, self.image_format
        width, height = self.width, self.height
        if self.data is not None:
            from synthmark.imaging import load_image

            loaded = load_image(self.data)
            sha256 = sha256 or hashlib.sha256(self.data).hexdigest()
            phash = phash if phash is not None else phash_image(loaded.image)
            image_format = image_format or loaded.format
            width = width or loaded.original_size[0]
            height = height or loaded.original_size[1]
        if sha256 is None or phash is None:
            raise UsageError("commit needs the image bytes (data=) or both sha256= and phash=")
        params = dict(self.parameters or {})
        prompt = self.prompt
        if prompt is None and isinstance(params.get("prompt"), str):
            prompt = params["prompt"]
        if not self.keep_prompt:
            for key in _PROMPT_KEYS:
                params.pop(key, None)
        try:
            parameters_json = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"parameters must be JSON-serialisable: {exc}") from None
        return CommitFields(
            created_at=self.created_at or utc_now(),
            sha256=_check_sha256(sha256),
            phash=parse_phash(phash),
            manifest_id=self.manifest_id,
            model_id=self.model_id,
            model_hash=self.model_hash,
            pipeline=self.pipeline,
            parameters_json=parameters_json,
            prompt_hash=prompt_digest(prompt) if prompt else None,
            prompt=prompt if self.keep_prompt and prompt else None,
            image_format=image_format,
            width=width,
            height=height,
        )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def format_time(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds: sorts as text."""
    if value.tzinfo is None:
        raise UsageError("registry times must be timezone-aware (UTC), got a naive datetime")
    return value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def prompt_digest(prompt: str) -> str:
    """SHA-256 (hex) of a prompt's UTF-8 bytes."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _check_sha256(value: str) -> str:
    text = value.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(f"sha256 must be 64 hex digits, got {value!r}")
    return text


def _check_content(description: object) -> None:
    if not isinstance(description, (bytes, bytearray)) or not description:
        raise UsageError("a content description must be non-empty bytes")


def record_to_dict(record: GenerationRecord) -> dict[str, Any]:
    """A record as plain JSON types (for export and the command line)."""
    from synthmark.jsonutil import to_jsonable

    out: dict[str, Any] = to_jsonable(record)
    return out


class Registry(abc.ABC):
    """The record of everything generated. Backends: :mod:`~synthmark.registry.sqlite`,
    :mod:`~synthmark.registry.postgres`."""

    url: str

    # --- writing -----------------------------------------------------------------------

    @abc.abstractmethod
    def reserve(
        self,
        *,
        watermark_scheme: str | None = "synthmark",
        model_id: str | None = None,
        pipeline: str | None = None,
    ) -> int:
        """Allocate a new serial (status ``reserved``) and return it."""

    def commit(
        self, serial: int, facts: Commit | None = None, /, **fields: Any
    ) -> GenerationRecord:
        """Complete a reserved serial with the final image's facts: a :class:`Commit`, or its
        fields as keywords (``reg.commit(serial, data=png_bytes, manifest_id=...)``). The
        commit's content description, if it has one, is stored after the record.

        Raises:
            RegistryError: the serial does not exist or is not ``reserved``.
            UsageError: neither ``data`` nor ``sha256`` + ``phash`` given, or bad values.
            TypeError: both a :class:`Commit` and keywords, or an unknown keyword.
        """
        if facts is not None and fields:
            raise TypeError("give a Commit or its fields as keywords, not both")
        facts = facts or Commit(**fields)
        if facts.content is not None:
            _check_content(facts.content)
        record = self._commit(serial, facts.normalise())
        if facts.content is not None:
            self.put_content(serial, facts.content, scheme=facts.content_scheme)
        return record

    @abc.abstractmethod
    def _commit(self, serial: int, fields: CommitFields) -> GenerationRecord:
        """Store ``fields`` on a reserved serial, atomically."""

    def put_content(self, serial: int, description: bytes, scheme: str = "synthmark") -> None:
        """Store the content description of ``serial``'s marked picture (what its mark is
        bound to: :func:`synthmark.watermark.attribution.describe_content`), once; the
        serial may still be reserved.

        Raises:
            RegistryError: no such serial, or it already has a description.
            UsageError: ``description`` is empty or not bytes.
        """
        _check_content(description)
        if not self._put_content(serial, scheme, bytes(description), format_time(utc_now())):
            if self.get(serial) is None:
                raise RegistryError(f"no record with serial {serial}")
            raise RegistryError(f"serial {serial} already has a content description")

    @abc.abstractmethod
    def _put_content(self, serial: int, scheme: str, description: bytes, now: str) -> bool:
        """Insert one content description; False if none was written (no such serial, or
        one is there already)."""

    @abc.abstractmethod
    def get_content(self, serial: int) -> bytes | None:
        """The content description of ``serial``, or None."""

    @abc.abstractmethod
    def abandon(self, serial: int, reason: str | None = None) -> None:
        """Mark a reserved serial as abandoned (its generation failed). The serial is never
        reused. Abandoning twice is harmless; abandoning a committed record is an error."""

    @abc.abstractmethod
    def import_records(self, records: Iterable[GenerationRecord]) -> int:
        """Insert whole records, serials included, in one transaction (bulk loads,
        migrations between backends). Returns how many were inserted."""

    # --- reading -----------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, serial: int) -> GenerationRecord | None:
        """The record of ``serial``, or None."""

    @abc.abstractmethod
    def by_sha256(self, sha256: str) -> list[GenerationRecord]:
        """Records of files with exactly these bytes (usually one)."""

    @abc.abstractmethod
    def by_manifest_id(self, manifest_id: str) -> GenerationRecord | None:
        """The record whose C2PA manifest has this id."""

    @abc.abstractmethod
    def _phash_candidates(self, phash: int, radius: int) -> list[tuple[int, int]]:
        """(serial, unsigned phash) of committed records that may lie within ``radius``."""

    @abc.abstractmethod
    def _get_many(self, serials: list[int]) -> list[GenerationRecord]:
        """Records of ``serials``, in any order."""

    @abc.abstractmethod
    def iter_records(
        self, status: RecordStatus | str | None = None, *, batch: int = 1000
    ) -> Iterator[GenerationRecord]:
        """Every record (optionally of one status), oldest serial first."""

    @abc.abstractmethod
    def count(self, status: RecordStatus | str | None = None) -> int:
        """How many records (optionally of one status)."""

    @abc.abstractmethod
    def list_records(
        self,
        status: RecordStatus | str | None = None,
        limit: int | None = 50,
        newest_first: bool = True,
    ) -> list[GenerationRecord]:
        """Up to ``limit`` records (None: all), newest serial first by default."""

    # --- the manifest repository (synthmark.registry.manifests) ---------------------------

    @abc.abstractmethod
    def store_manifest(self, serial: int, manifest_id: str, store: bytes) -> None:
        """Keep the signed C2PA manifest store of ``serial`` (before committing it)."""

    @abc.abstractmethod
    def manifest_store(self, manifest_id: str) -> bytes | None:
        """The kept manifest store whose active manifest is ``manifest_id``, or None."""

    @abc.abstractmethod
    def manifest_id_for_serial(self, serial: int) -> str | None:
        """The id of the kept manifest of the committed record ``serial``, or None."""

    def lookup_phash(
        self, phash: int | str, radius: int = DEFAULT_RADIUS, limit: int = 10
    ) -> list[PhashMatch]:
        """Committed records within ``radius`` bits of ``phash``, nearest first."""
        value = parse_phash(phash)
        check_radius(radius)
        near = [
            ((value ^ other).bit_count(), serial)
            for serial, other in self._phash_candidates(value, radius)
        ]
        near = sorted(d for d in near if d[0] <= radius)[: max(limit, 0)]
        by_serial = {r.serial: r for r in self._get_many([s for _, s in near])}
        return [PhashMatch(by_serial[s], d) for d, s in near if s in by_serial]

    def lookup_image(
        self, image: Image.Image, radius: int = DEFAULT_RADIUS, limit: int = 10
    ) -> list[PhashMatch]:
        """Committed records that look like ``image`` (perceptual hash within ``radius``)."""
        return self.lookup_phash(phash_image(image), radius, limit)

    def lookup_bytes(
        self, data: bytes, radius: int = DEFAULT_RADIUS, limit: int = 10
    ) -> RegistryLookup:
        """Exact (SHA-256) and perceptual matches of an image file's bytes.

        Raises the loader's errors (:class:`~synthmark.errors.UnsupportedImage`) for files
        that are not images.
        """
        from synthmark.imaging import load_image

        loaded = load_image(data)
        digest = hashlib.sha256(data).hexdigest()
        value = phash_image(loaded.image)
        return RegistryLookup(
            sha256=digest,
            phash=phash_hex(value),
            radius=radius,
            exact=self.by_sha256(digest),
            similar=self.lookup_phash(value, radius, limit),
        )

    # --- life cycle --------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - backends without resources need nothing
        """Release the backend's connections."""

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- shared helpers ----------------------------------------------------------------

    @staticmethod
    def _status(value: RecordStatus | str | None) -> RecordStatus | None:
        if value is None or value == "all":
            return None
        try:
            return RecordStatus(value)
        except ValueError:
            known = ", ".join(s.value for s in RecordStatus)
            raise UsageError(f"unknown status {value!r}; known: {known}, all") from None

    @staticmethod
    def _missing(serial: int, state: str | None) -> RegistryError:
        if state is None:
            return RegistryError(f"no record with serial {serial}")
        return RegistryError(f"serial {serial} is {state}, not reserved; it cannot change")


__all__ = [
    "Commit",
    "CommitFields",
    "Registry",
    "format_time",
    "parse_time",
    "prompt_digest",
    "record_to_dict",
    "utc_now",
]
