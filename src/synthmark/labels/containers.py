"""Find the metadata blocks of an image file without decoding its pixels.

PNG text chunks, JPEG APP segments and WebP RIFF chunks are walked by hand: it is simple,
bounded, and sees chunks that Pillow only reads after decoding the pixels (PNG text after
``IDAT``). Other formats (TIFF, GIF, AVIF, HEIF) go through Pillow's header parser. Every
walker stops at the first malformed structure and records why in
:attr:`MetadataBlocks.errors`; nothing here raises on hostile input.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

#: Largest text value read from one chunk, after decompression (zip-bomb guard).
MAX_TEXT_BYTES = 8 * 1024 * 1024
#: Largest total of all decompressed text in one file.
MAX_TOTAL_TEXT_BYTES = 32 * 1024 * 1024

_XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_EXIF_HEADER = b"Exif\x00\x00"
#: A JUMBF description box ("jumd") whose type is the C2PA manifest store's UUID
#: (63327061-0011-0010-8000-00AA00389B71): the first bytes of every embedded store.
C2PA_STORE_SIGNATURE = b"jumdc2pa\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71"
_SOF_MARKERS = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)

MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    "HEIF": "image/heif",
    "BMP": "image/bmp",
}


@dataclass
class TextEntry:
    """One key/value text block: a PNG ``tEXt``/``zTXt``/``iTXt`` chunk or a JPEG comment."""

    key: str
    value: str
    where: str


@dataclass
class MetadataBlocks:
    """The raw metadata found in one file."""

    format: str | None
    size: tuple[int, int] | None = None
    texts: list[TextEntry] = field(default_factory=list)
    exif: Image.Exif | None = field(default=None, repr=False)
    xmp: bytes | None = field(default=None, repr=False)
    jumbf: bool = False  # a C2PA manifest store is embedded somewhere in the file
    errors: list[str] = field(default_factory=list)

    def text(self, key: str) -> str | None:
        """The first text value stored under ``key`` (exact, case-sensitive), if any."""
        for entry in self.texts:
            if entry.key == key:
                return entry.value
        return None


def has_c2pa_store(data: bytes) -> bool:
    """Whether ``data`` holds a C2PA manifest store: a JUMBF description box labelled with
    the store's type UUID. (A bare "jumbf=/c2pa" reference in XMP does not count.)"""
    return C2PA_STORE_SIGNATURE in data


def sniff_format(data: bytes) -> str | None:
    """The container format from the first bytes, or None when unrecognised."""
    head = data[:32]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc"):
            return "HEIF"
    if head.startswith(b"BM"):
        return "BMP"
    return None


def mime_type(fmt: str) -> str:
    """The MIME type of a Pillow format name."""
    return MIME_TYPES.get(fmt.upper(), "application/octet-stream")


class _Budget:
    """Caps the decompressed text of one file."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_TEXT_BYTES

    def inflate(self, payload: bytes) -> bytes:
        limit = min(MAX_TEXT_BYTES, self.left)
        d = zlib.decompressobj()
        out = d.decompress(payload, limit + 1)
        if len(out) > limit:
            raise ValueError(f"compressed text expands past {limit:,} bytes")
        self.left -= len(out)
        return out


def _load_exif(raw: bytes) -> Image.Exif:
    if raw.startswith(_EXIF_HEADER):
        raw = raw[len(_EXIF_HEADER) :]
    exif = Image.Exif()
    exif.load(raw)
    return exif


def _walk_png(data: bytes, blocks: MetadataBlocks) -> None:
    budget = _Budget()
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            blocks.errors.append(f"PNG chunk {kind!r} at byte {pos} runs past the end of the file")
            return
        payload = data[start:end]
        try:
            if kind == b"tEXt":
                key, _, latin = payload.partition(b"\x00")
                blocks.texts.append(
                    TextEntry(key.decode("latin-1"), latin.decode("latin-1"), "PNG tEXt")
                )
            elif kind == b"zTXt":
                key, _, rest = payload.partition(b"\x00")
                inflated = budget.inflate(rest[1:])
                blocks.texts.append(
                    TextEntry(key.decode("latin-1"), inflated.decode("latin-1"), "PNG zTXt")
                )
            elif kind == b"iTXt":
                key, _, rest = payload.partition(b"\x00")
                compressed = rest[:1] == b"\x01"
                _lang, _, rest = rest[2:].partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                raw = budget.inflate(text) if compressed else text
                name = key.decode("latin-1")
                if name == "XML:com.adobe.xmp":
                    blocks.xmp = raw
                else:
                    blocks.texts.append(
                        TextEntry(name, raw.decode("utf-8", errors="replace"), "PNG iTXt")
                    )
            elif kind == b"eXIf":
                blocks.exif = _load_exif(payload)
            elif kind == b"IHDR" and length >= 8:
                blocks.size = struct.unpack(">II", payload[:8])
            elif kind == b"IEND":
                return
        except (ValueError, zlib.error, struct.error, SyntaxError, OSError) as exc:
            blocks.errors.append(f"PNG chunk {kind.decode('latin-1')!r}: {exc}")
        pos = end + 4
    if pos < len(data):
        blocks.errors.append("PNG ends inside a chunk header")


def _walk_jpeg(data: bytes, blocks: MetadataBlocks) -> None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            blocks.errors.append(f"JPEG: expected a marker at byte {pos}")
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: metadata is before
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        start, end = pos + 4, pos + 2 + length
        if length < 2 or end > len(data):
            blocks.errors.append(f"JPEG segment 0xFF{marker:02X} at byte {pos} is truncated")
            return
        payload = data[start:end]
        try:
            if marker == 0xE1 and payload.startswith(_EXIF_HEADER) and blocks.exif is None:
                blocks.exif = _load_exif(payload)
            elif marker == 0xE1 and payload.startswith(_XMP_JPEG_HEADER) and blocks.xmp is None:
                blocks.xmp = payload[len(_XMP_JPEG_HEADER) :]
            elif marker in _SOF_MARKERS and len(payload) >= 5 and blocks.size is None:
                height, width = struct.unpack(">HH", payload[1:5])
                blocks.size = (width, height)
            elif marker == 0xFE:
                blocks.texts.append(
                    TextEntry("comment", payload.decode("utf-8", errors="replace"), "JPEG COM")
                )
        except (ValueError, struct.error, SyntaxError, OSError) as exc:
            blocks.errors.append(f"JPEG segment 0xFF{marker:02X}: {exc}")
        pos = end


def _walk_webp(data: bytes, blocks: MetadataBlocks) -> None:
    pos = 12
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            blocks.errors.append(f"WebP chunk {kind!r} at byte {pos} runs past the end")
            return
        payload = data[start:end]
        try:
            if kind == b"EXIF":
                blocks.exif = _load_exif(payload)
            elif kind == b"XMP ":
                blocks.xmp = payload
            elif kind == b"VP8X" and length >= 10:
                w = int.from_bytes(payload[4:7], "little") + 1
                h = int.from_bytes(payload[7:10], "little") + 1
                blocks.size = (w, h)
            elif kind == b"VP8 " and length >= 10 and blocks.size is None:
                w, h = struct.unpack("<HH", payload[6:10])
                blocks.size = (w & 0x3FFF, h & 0x3FFF)
            elif kind == b"VP8L" and length >= 5 and blocks.size is None:
                bits = int.from_bytes(payload[1:5], "little")
                blocks.size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        except (ValueError, struct.error, SyntaxError, OSError) as exc:
            blocks.errors.append(f"WebP chunk {kind.decode('latin-1')!r}: {exc}")
        pos = end + (length & 1)


def _via_pillow(data: bytes, blocks: MetadataBlocks) -> None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            blocks.size = im.size
            blocks.exif = im.getexif()
            xmp = im.info.get("xmp")
            if isinstance(xmp, (bytes, str)):
                blocks.xmp = xmp.encode() if isinstance(xmp, str) else xmp
            for key, value in im.info.items():
                if isinstance(value, str) and key not in ("xmp",):
                    blocks.texts.append(TextEntry(str(key), value, f"{blocks.format} info"))
    except UnidentifiedImageError:  # its message names our in-memory buffer, not the file
        blocks.errors.append(
            f"cannot parse {blocks.format or 'file'} header: Pillow cannot read it"
        )
    except Exception as exc:  # Pillow raises many types on hostile headers
        blocks.errors.append(f"cannot parse {blocks.format or 'file'} header: {exc}")


def _scan_xmp(data: bytes) -> bytes | None:
    """The first ``<x:xmpmeta>...</x:xmpmeta>`` in raw bytes (formats we do not walk)."""
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start)
    return data[start : end + len(b"</x:xmpmeta>")] if end > start else None


def extract_blocks(data: bytes) -> MetadataBlocks:
    """Every metadata block of ``data``; problems are listed in ``errors``, never raised."""
    fmt = sniff_format(data)
    blocks = MetadataBlocks(format=fmt)
    if fmt == "PNG":
        _walk_png(data, blocks)
    elif fmt == "JPEG":
        _walk_jpeg(data, blocks)
    elif fmt == "WEBP":
        _walk_webp(data, blocks)
    elif fmt is not None:
        _via_pillow(data, blocks)
    if blocks.xmp is None and fmt is not None:
        blocks.xmp = _scan_xmp(data)
    blocks.jumbf = has_c2pa_store(data)
    return blocks


__all__ = [
    "C2PA_STORE_SIGNATURE",
    "MAX_TEXT_BYTES",
    "MIME_TYPES",
    "MetadataBlocks",
    "TextEntry",
    "extract_blocks",
    "has_c2pa_store",
    "mime_type",
    "sniff_format",
]
