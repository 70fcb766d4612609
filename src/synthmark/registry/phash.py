"""The perceptual hash the registry keys images by, and the index that searches it fast.

The hash is imagehash's 64-bit DCT pHash (BSD licence): greyscale, 32x32, the top-left
8x8 DCT coefficients against their median. Re-encoding and resizing move it by a few
bits (JPEG q70 then resize 0.5: at most 2 of 64 on 180 images of ``../shared/data``),
while distinct pictures sit 14 or more bits apart there.

Searching within a Hamming radius uses multi-index hashing (Norouzi et al., 2012): the
hash is cut into four 16-bit bands; two hashes within distance ``r`` agree to within
``r // 4`` bits on at least one band (pigeonhole). The database indexes each band, the
search enumerates the few band values that near (137 per band for ``r`` up to 11) and
checks the full distance of the candidates only.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

from PIL import Image

from synthmark.errors import UsageError

BANDS = 4
BAND_BITS = 16
#: Default search radius (bits of 64): robust re-encodes sit at 0-2, distinct images at 14+.
DEFAULT_RADIUS = 8
#: Largest radius searched; past it unrelated images start to match.
MAX_RADIUS = 16

_MASK64 = (1 << 64) - 1


def phash_image(image: Image.Image) -> int:
    """The 64-bit perceptual hash of ``image`` as an unsigned integer."""
    import imagehash

    return int(str(imagehash.phash(image)), 16)


def phash_hex(value: int) -> str:
    """16 hex digits, as imagehash prints them."""
    return f"{value & _MASK64:016x}"


def parse_phash(value: int | str) -> int:
    """A hash from an int or a 16-digit hex string; ``UsageError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= _MASK64:
            raise UsageError(f"perceptual hash must be a 64-bit unsigned integer, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0x")
        if len(text) == 16:
            try:
                return int(text, 16)
            except ValueError:
                pass
    raise UsageError(f"perceptual hash must be 16 hex digits, got {value!r}")


def to_signed(value: int) -> int:
    """The unsigned hash as a signed 64-bit integer (what SQL INTEGER/BIGINT hold)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed(value: int) -> int:
    """Back from :func:`to_signed`."""
    return value & _MASK64


def bands(value: int) -> tuple[int, ...]:
    """The four 16-bit bands of a hash, most significant first."""
    return tuple(
        (value >> (BAND_BITS * (BANDS - 1 - i))) & ((1 << BAND_BITS) - 1) for i in range(BANDS)
    )


def hamming(a: int, b: int) -> int:
    """Bits that differ between two hashes."""
    return (a ^ b).bit_count()


@lru_cache(maxsize=8)
def _masks(radius: int) -> tuple[int, ...]:
    out = [0]
    for k in range(1, radius + 1):
        for bits in itertools.combinations(range(BAND_BITS), k):
            out.append(sum(1 << b for b in bits))
    return tuple(out)


def band_neighbours(value: int, radius: int) -> list[int]:
    """Every 16-bit value within ``radius`` bits of ``value``."""
    return [value ^ m for m in _masks(radius)]


def check_radius(radius: int) -> int:
    """``radius`` if it is 0..MAX_RADIUS; ``UsageError`` otherwise."""
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS:
        raise UsageError(f"radius must be an integer from 0 to {MAX_RADIUS}, got {radius!r}")
    return radius


__all__ = [
    "BANDS",
    "DEFAULT_RADIUS",
    "MAX_RADIUS",
    "band_neighbours",
    "bands",
    "check_radius",
    "from_signed",
    "hamming",
    "parse_phash",
    "phash_hex",
    "phash_image",
    "to_signed",
]
