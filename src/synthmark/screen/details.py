"""Per-layer details of a screening record: what a moderator reads to see *why*.

:func:`add_details` adds keys to the ``layers`` summary of a record and never changes or
removes one (records stay backwards compatible; a key a newer summary already sets wins):

* ``c2pa``: every field of the C2PA report (signer, time, actions, validation codes, the
  manifest chain with each manifest's ingredients, the watermark assertion, ...);
* ``xmp``, ``exif`` and ``generators``: the XMP label, EXIF fields and each generator
  tool's metadata (prompt, seed, model, ...) as read from the file;
* ``watermarks``: per scheme, ``serial`` (our mark's payload as a number) and
  ``confidence``, and any further field a readout has;
* ``registry_record``: the registry record our watermark's serial names, without the
  prompts (kept on opt-in): an uploader must not learn a stored prompt by sending a copy
  of the image.
"""

from __future__ import annotations

from typing import Any

from synthmark.jsonutil import to_jsonable
from synthmark.screen.gather import Signals

#: Readout fields left out of the record: scheme-specific numbers for developers.
_READOUT_SKIP = frozenset({"scheme", "details"})
#: Registry record fields (and parameters) never sent back to whoever uploads an image.
_PROMPT_KEYS = frozenset({"prompt", "negative_prompt"})


def _merge(target: dict[str, Any], extra: Any) -> None:
    if isinstance(extra, dict):
        for key, value in extra.items():
            target.setdefault(key, value)


def _label_details(layers: dict[str, Any], labels: Any) -> None:
    c2pa = layers.setdefault("c2pa", {})
    _merge(c2pa, to_jsonable(labels.c2pa))
    layers.setdefault("xmp", to_jsonable(labels.xmp))
    layers.setdefault("exif", to_jsonable(labels.exif))
    layers.setdefault("generators", to_jsonable(labels.generators))


def _watermark_details(layers: dict[str, Any], signals: Signals) -> None:
    marks = layers.setdefault("watermarks", {})
    for readout in signals.watermarks:
        entry = marks.setdefault(readout.scheme, {})
        readout_dict = to_jsonable(readout)
        if isinstance(readout_dict, dict):
            _merge(entry, {k: v for k, v in readout_dict.items() if k not in _READOUT_SKIP})
        if readout.scheme == "synthmark" and readout.present and readout.payload:
            entry.setdefault("serial", int.from_bytes(readout.payload, "big"))


def add_details(layers: dict[str, Any], signals: Signals) -> dict[str, Any]:
    """``layers`` with the details above added (in place, and returned)."""
    if signals.labels is not None:
        _label_details(layers, signals.labels)
    _watermark_details(layers, signals)
    record = to_jsonable(signals.registry_record)
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in _PROMPT_KEYS}
        if isinstance(record.get("parameters"), dict):
            params = record["parameters"]
            record["parameters"] = {k: v for k, v in params.items() if k not in _PROMPT_KEYS}
        layers.setdefault("registry_record", record)
    return layers


__all__ = ["add_details"]
