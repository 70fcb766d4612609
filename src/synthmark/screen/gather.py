"""Gather every provenance signal of one image: labels, watermarks and the registry.

:func:`gather` is what ``synthmark inspect`` prints and what screening builds its verdict
on. It never raises for a bad file: a file that cannot be decoded still gets its labels
read (they live in the container), and the decode error is recorded in ``errors``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from synthmark.errors import UnsupportedImage
from synthmark.imaging import ImageLimits, error_detail, load_image


@dataclass
class Signals:
    """Everything known about one image's provenance, before any verdict."""

    path: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    loader_notes: list[str] = field(default_factory=list)
    labels: Any = None
    watermarks: list[Any] = field(default_factory=list)
    registry: Any = None
    registry_record: Any = None
    errors: list[str] = field(default_factory=list)
    image: Any = field(default=None, repr=False)

    @property
    def decoded(self) -> bool:
        """True when the pixels could be decoded."""
        return self.image is not None


@dataclass
class GatherOptions:
    """What to read, and with which keys and anchors."""

    watermark_key: bytes | None = None
    #: retired watermark keys, tried after ``watermark_key`` (they read, but no longer write)
    retired_keys: tuple[bytes, ...] = ()
    trust_anchors: bytes | None = None
    registry: Any = None
    limits: ImageLimits = field(default_factory=ImageLimits)
    read_watermarks: bool = True


def _registry_part(signals: Signals, data: bytes, options: GatherOptions) -> None:
    """Exact and perceptual registry matches, and the record our watermark's serial names."""
    registry = options.registry
    if registry is None or signals.image is None:
        return
    from synthmark.registry import DEFAULT_RADIUS, RegistryLookup, phash_hex, phash_image

    digest = hashlib.sha256(data).hexdigest()
    phash = phash_image(signals.image)
    signals.registry = RegistryLookup(
        sha256=digest,
        phash=phash_hex(phash),
        radius=DEFAULT_RADIUS,
        exact=registry.by_sha256(digest),
        similar=registry.lookup_phash(phash, DEFAULT_RADIUS, 5),
    )
    for readout in signals.watermarks:
        if readout.scheme == "synthmark" and readout.present and readout.payload:
            signals.registry_record = registry.get(int.from_bytes(readout.payload, "big"))
            _recover_manifest(signals, data, options)


def _recover_manifest(signals: Signals, data: bytes, options: GatherOptions) -> None:
    """A copy that lost its C2PA manifest gets it back from the registry's manifest repository
    (durable Content Credentials), found through the serial our watermark carries; it is
    validated against this copy, and reported as recovered."""
    record, labels = signals.registry_record, signals.labels
    if record is None or labels is None or labels.c2pa.present or not record.manifest_id:
        return
    store = options.registry.manifest_store(record.manifest_id)
    if store is None:
        return
    from synthmark.labels.containers import mime_type
    from synthmark.labels.recovery import recovered_report
    from synthmark.labels.report import declarations

    mime = mime_type(signals.format or labels.format or "")
    labels.c2pa = recovered_report(
        store, data, mime, options.trust_anchors, via=f"watermark serial {record.serial}"
    )
    labels.declared_ai = declarations(labels)


def gather(data: bytes, path: str | os.PathLike[str], options: GatherOptions) -> Signals:
    """Read labels, watermarks and registry matches of one file's bytes."""
    from synthmark.labels import read_labels

    name = os.fspath(path)
    signals = Signals(path=name)
    try:
        loaded = load_image(data, options.limits)
    except UnsupportedImage as exc:
        signals.errors.append(error_detail(exc, "input"))
        loaded = None
    if loaded is not None:
        signals.format = loaded.format
        signals.width, signals.height = loaded.size
        signals.loader_notes = loaded.notes
        signals.image = loaded.image
    signals.labels = read_labels(data, name, trust_anchors=options.trust_anchors)
    if signals.format is None:
        signals.format = signals.labels.format
    if loaded is not None and options.read_watermarks:
        from synthmark.watermark import read_all

        signals.watermarks = read_all(
            loaded.image, options.watermark_key, options.retired_keys
        )
        if options.watermark_key is None:
            from synthmark.watermark.keys import NO_KEY_NOTE

            signals.errors.append(NO_KEY_NOTE)
    _registry_part(signals, data, options)
    if signals.image is not None and signals.watermarks:
        from synthmark.screen.attribution import attribute_readouts

        attribute_readouts(signals.image, signals.watermarks, options.registry)
    return signals


def signals_to_dict(signals: Signals) -> dict[str, Any]:
    """The JSON shape of ``synthmark inspect --json``: one flat object per file."""
    from synthmark.jsonutil import to_jsonable

    labels = signals.labels
    out: dict[str, Any] = {
        "path": signals.path,
        "format": signals.format,
        "width": signals.width,
        "height": signals.height,
        "loader_notes": signals.loader_notes,
    }
    if labels is not None:
        out.update(
            c2pa=to_jsonable(labels.c2pa),
            xmp=to_jsonable(labels.xmp),
            exif=to_jsonable(labels.exif),
            generators=to_jsonable(labels.generators),
            declared_ai=list(labels.declared_ai),
        )
    out["watermarks"] = to_jsonable(signals.watermarks)
    out["registry"] = to_jsonable(signals.registry)
    out["registry_record"] = to_jsonable(signals.registry_record)
    errors = list(signals.errors)
    if labels is not None:
        errors.extend(e for e in labels.errors if e not in errors)
    out["errors"] = errors
    return out


__all__ = ["GatherOptions", "Signals", "gather", "signals_to_dict"]
