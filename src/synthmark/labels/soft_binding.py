"""The ``c2pa.soft-binding`` assertion for synthmark's watermark: what it says and how to read it.

A soft binding names a watermark or fingerprint from which a reader can find the manifest
again once the file's metadata is gone (C2PA specification, "Soft binding"; the Soft
Binding Resolution API looks manifests up by ``alg`` and ``value``).

* ``alg`` is :data:`SOFT_BINDING_ALG`, ``org.synthmark.watermark.1``: an identifier of our
  own (reverse-DNS, versioned), since synthmark's watermark is not on C2PA's soft binding
  algorithm list. It names the keyed 64-bit mark of :mod:`synthmark.watermark.tiled`.
* ``value`` (one block, whole-image scope) is the base64 of the payload exactly as a reader
  extracts it: the 8 bytes of the registry serial, big-endian. Reading it back needs the
  watermark key, so only the key holder's service resolves by content; anyone may resolve
  by value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from synthmark.errors import UsageError

SOFT_BINDING_LABEL = "c2pa.soft-binding"
#: Our soft binding algorithm identifier (not on the C2PA list; documented in docs/labelling.md).
SOFT_BINDING_ALG = "org.synthmark.watermark.1"
#: Bytes of the value: the 64-bit payload of synthmark's watermark.
VALUE_BYTES = 8
#: What the assertion's ``name`` says about the value.
SOFT_BINDING_NAME = (
    "synthmark keyed invisible watermark; value: base64 of the 64-bit payload, the "
    "registry serial (big-endian)"
)


def binding_value(payload: bytes) -> str:
    """The ``value`` of a soft binding for a watermark payload (base64, padded)."""
    if len(payload) != VALUE_BYTES:
        raise UsageError(
            f"a {SOFT_BINDING_ALG} value is {VALUE_BYTES} bytes, got {len(payload)}"
        )
    return base64.b64encode(payload).decode("ascii")


def parse_binding_value(value: str) -> bytes:
    """The payload of a soft binding ``value``; :class:`UsageError` says what is wrong.

    Standard and URL-safe base64 are accepted, with or without padding (a ``+`` that a URL
    turned into a space is put back).
    """
    text = value.strip().replace(" ", "+")
    if not text:
        raise UsageError("the soft binding value is empty")
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"the soft binding value is not base64: {value[:40]!r}") from None
    if len(raw) != VALUE_BYTES:
        raise UsageError(
            f"a {SOFT_BINDING_ALG} value decodes to {VALUE_BYTES} bytes (the watermark "
            f"payload), got {len(raw)}"
        )
    return raw


def check_alg(alg: str | None) -> str:
    """``alg`` if it is ours; :class:`UsageError` naming the supported one otherwise."""
    if alg != SOFT_BINDING_ALG:
        raise UsageError(
            f"unsupported soft binding algorithm {alg!r}; supported: {SOFT_BINDING_ALG}"
        )
    return alg


def soft_binding_assertion(payload: bytes) -> dict[str, Any]:
    """The ``c2pa.soft-binding`` assertion (manifest definition JSON) for a payload.

    ``pad`` is empty: c2pa-rs's soft binding structure requires the field.
    """
    return {
        "label": SOFT_BINDING_LABEL,
        "data": {
            "alg": SOFT_BINDING_ALG,
            "name": SOFT_BINDING_NAME,
            "blocks": [{"scope": {}, "value": binding_value(payload)}],
            "pad": [],
        },
    }


def soft_bindings_of(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every (``alg``, ``value``) pair of the soft binding assertions of one manifest, as
    c2pa's reader JSON gives them."""
    found: list[dict[str, str]] = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        if not str(assertion.get("label", "")).startswith(SOFT_BINDING_LABEL):
            continue
        data = assertion.get("data")
        if not isinstance(data, dict):
            continue
        alg = data.get("alg")
        for block in data.get("blocks") or []:
            if isinstance(block, dict) and isinstance(block.get("value"), str):
                found.append({"alg": str(alg), "value": block["value"]})
    return found


__all__ = [
    "SOFT_BINDING_ALG",
    "SOFT_BINDING_LABEL",
    "SOFT_BINDING_NAME",
    "VALUE_BYTES",
    "binding_value",
    "check_alg",
    "parse_binding_value",
    "soft_binding_assertion",
    "soft_bindings_of",
]
