"""Ask the registry whether a present synthmark mark belongs to the picture it is on.

:func:`attribute_readouts` sets :attr:`~synthmark.watermark.base.Readout.attribution` on
every present synthmark readout of one image (see
:mod:`synthmark.watermark.attribution`): ``unknown`` without a registry, ``unregistered``
when the serial has no committed record, else ``bound`` or ``copied`` by the stored
content description (``unknown`` for a record made before descriptions were kept). What
the comparison rests on goes to ``details["binding"]``.

>>> attribute_readouts(image, readouts, registry)          # doctest: +SKIP
>>> readouts[0].attribution                                # doctest: +SKIP
'bound'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image

from synthmark.watermark import DEFAULT_SCHEME
from synthmark.watermark.attribution import attribute
from synthmark.watermark.base import Readout

__all__ = ["attribute_readouts", "serial_of"]


def serial_of(readout: Readout) -> int | None:
    """The serial a present synthmark readout carries, else None."""
    if readout.scheme != DEFAULT_SCHEME or not readout.present or not readout.payload:
        return None
    return int.from_bytes(readout.payload, "big")


def attribute_readouts(image: Image.Image, readouts: Sequence[Readout], registry: Any) -> None:
    """Set the attribution of each present synthmark readout of ``image`` (``registry``:
    a :class:`~synthmark.registry.Registry`, or None when there is none)."""
    for readout in readouts:
        serial = serial_of(readout)
        if serial is None:
            continue
        record = registry.get(serial) if registry is not None else None
        registered = record is not None and str(getattr(record.status, "value", "")) == "committed"
        description = registry.get_content(serial) if registered else None
        state, info = attribute(
            image,
            readout.details,
            description,
            registry=registry is not None,
            registered=registered,
        )
        readout.attribution = state.value
        readout.details["binding"] = info
