"""Invisible watermarks: synthmark's own keyed mark, and Stable Diffusion's public marks.

>>> from synthmark.watermark import get_scheme, read_all
>>> from synthmark.watermark.keys import load_key
>>> scheme = get_scheme("synthmark", key=load_key(settings))          # doctest: +SKIP
>>> marked = scheme.embed(image, (1234).to_bytes(8, "big"))           # doctest: +SKIP
>>> scheme.extract(marked).status                                     # doctest: +SKIP
<WatermarkStatus.PRESENT: 'present'>
>>> [r.scheme for r in read_all(marked, key)]                         # doctest: +SKIP
['synthmark', 'sd1', 'sd2', 'sdxl']

Schemes (:func:`list_schemes`):

* ``synthmark``: the default; keyed, 64-bit payload, survives compression, resizing,
  cropping, rotation and mirroring, with a false-positive bound (:mod:`.tiled`);
* ``dwtDct``, ``dwtDctSvd``, ``rivaGan``: invisible-watermark's methods, for comparison
  (:mod:`.invisible`; rivaGan needs the ``rivagan`` extra);
* ``sd1``, ``sd2``, ``sdxl``: Stable Diffusion's fixed public marks (:mod:`.public`).

Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from synthmark.errors import KeyMissing
from synthmark.names import NameRegistry
from synthmark.watermark.base import Readout, WatermarkScheme, WatermarkStatus

__all__ = [
    "DEFAULT_SCHEME",
    "SCHEMES",
    "Readout",
    "WatermarkScheme",
    "WatermarkStatus",
    "get_scheme",
    "list_schemes",
    "read_all",
    "read_synthmark",
]

DEFAULT_SCHEME = "synthmark"


def _synthmark(key: bytes | None) -> WatermarkScheme:
    from synthmark.watermark.tiled import TiledScheme

    return TiledScheme(key)


def _invisible(method: str) -> Callable[[bytes | None], WatermarkScheme]:
    def build(key: bytes | None) -> WatermarkScheme:
        from synthmark.watermark.invisible import InvisibleWatermarkScheme

        return InvisibleWatermarkScheme(method)

    return build


def _public(name: str) -> Callable[[bytes | None], WatermarkScheme]:
    def build(key: bytes | None) -> WatermarkScheme:
        from synthmark.watermark.public import PublicMarkScheme

        return PublicMarkScheme(name)

    return build


@dataclass(frozen=True)
class _Entry:
    """How to build a scheme, and whether it needs a key."""

    build: Callable[[bytes | None], WatermarkScheme]
    keyed: bool = False


#: The watermark schemes, by name (:func:`get_scheme`, :func:`list_schemes`).
SCHEMES: NameRegistry[_Entry] = NameRegistry("watermark scheme")
SCHEMES.register("synthmark", _Entry(_synthmark, keyed=True))
for _method in ("dwtDct", "dwtDctSvd", "rivaGan"):  # invisible-watermark's methods
    SCHEMES.register(_method, _Entry(_invisible(_method)))
for _mark in ("sd1", "sd2", "sdxl"):  # Stable Diffusion's public marks (read/write)
    SCHEMES.register(_mark, _Entry(_public(_mark)))


def list_schemes() -> list[str]:
    """Registered scheme names."""
    return SCHEMES.names()


def get_scheme(name: str, key: bytes | None = None) -> WatermarkScheme:
    """Build a scheme by name.

    Raises:
        UsageError: unknown name (the message lists the known ones).
        KeyMissing: a keyed scheme (``synthmark``) without a key.
    """
    entry = SCHEMES[name]
    if entry.keyed and key is None:
        raise KeyMissing(
            f"scheme {name!r} needs a key: run `synthmark watermark keygen`, then pass "
            "key=load_key(settings)"
        )
    return entry.build(key)


def read_all(
    image: Image.Image, key: bytes | None, retired: Sequence[bytes] = ()
) -> list[Readout]:
    """Every mark screening looks for: synthmark's (when a key is given) and SD 1.x/2.x/XL.

    ``retired`` keys (:func:`synthmark.watermark.keys.retired_keys`) are tried after
    ``key`` for synthmark's mark (see :func:`read_synthmark`). Images too small for a
    scheme read ``absent`` with a note in ``details`` instead of raising, so that one
    thumbnail does not stop a batch.
    """
    from synthmark.errors import ImageTooSmall
    from synthmark.watermark.public import read_public_marks

    out: list[Readout] = []
    if key is not None:
        try:
            out.append(read_synthmark(image, key, retired))
        except ImageTooSmall as exc:
            out.append(
                Readout(
                    DEFAULT_SCHEME, WatermarkStatus.ABSENT, None, None, None, {"note": str(exc)}
                )
            )
    out.extend(read_public_marks(image))
    return out


def read_synthmark(image: Image.Image, key: bytes, retired: Sequence[bytes] = ()) -> Readout:
    """synthmark's mark under ``key``, else under the first ``retired`` key it is present
    with. Each key read is one more chance of a false positive, so with ``K`` keys the
    p-value is ``K`` times the single-key one, and a read that then exceeds the scheme's
    ``alpha`` is ``damaged``, not ``present``; ``details["key_id"]`` names the key.

    Raises:
        ImageTooSmall: the image is too small to read.
    """
    from synthmark.watermark.keys import key_id
    from synthmark.watermark.tiled import TiledScheme

    keys = [key, *(k for k in retired if k != key)]
    alpha = TiledScheme(key).design.alpha
    readouts = []
    for candidate in keys:
        readout = TiledScheme(candidate).extract(image)
        readout.details["key_id"] = key_id(candidate)
        readouts.append(readout)
        if readout.present:
            break
    found = next((r for r in readouts if r.present), readouts[0])
    if len(keys) > 1 and found.p_value is not None:
        found.p_value = min(1.0, found.p_value * len(keys))
        found.confidence = 1.0 - found.p_value
        found.details["keys_read"] = len(keys)
        if found.present and found.p_value > alpha:
            found.status = WatermarkStatus.DAMAGED
            found.details["note"] = (
                f"a valid word under one of {len(keys)} keys, but their joint "
                f"false-positive bound {found.p_value:.1e} exceeds {alpha:g}"
            )
            found.payload = None
    return found
