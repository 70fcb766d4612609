"""EXIF fields that speak to provenance: Software, Make, Model, UserComment and friends.

AUTOMATIC1111 stores its generation parameters in ``UserComment`` for JPEG and WebP
(through piexif: the ``UNICODE`` prefix, then UTF-16 in the file's byte order).
:func:`build_exif` writes the same, so the community's prompt readers show our parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

TAG_IMAGE_DESCRIPTION = 0x010E
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_SOFTWARE = 0x0131
TAG_ARTIST = 0x013B
TAG_EXIF_IFD = 0x8769
TAG_USER_COMMENT = 0x9286

_ASCII = b"ASCII\x00\x00\x00"
_UNICODE = b"UNICODE\x00"
_JIS = b"JIS\x00\x00\x00\x00\x00"
_UNDEFINED = b"\x00" * 8

#: Longest text value kept in a report.
MAX_FIELD_CHARS = 64 * 1024


@dataclass
class ExifReport:
    """Provenance-related EXIF fields; ``present`` is False when the file has no EXIF."""

    present: bool = False
    software: str | None = None
    make: str | None = None
    model: str | None = None
    user_comment: str | None = None
    image_description: str | None = None
    artist: str | None = None
    errors: list[str] = field(default_factory=list)


def decode_user_comment(raw: bytes | str, byteorder: str | None = None) -> str | None:
    """Decode an EXIF UserComment (8-byte character-code prefix, then the text).

    ``UNICODE`` text is UTF-16: a byte-order mark wins, then the zero-byte pattern of
    Latin text, then the EXIF block's own byte order (``"<"`` or ``">"``).
    """
    if isinstance(raw, str):
        return raw.rstrip("\x00").strip() or None
    prefix, body = raw[:8], raw[8:]
    if prefix == _UNICODE:
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", errors="replace")
        else:
            if len(body) >= 2 and body[0] == 0 and body[1] != 0:
                codec = "utf-16-be"
            elif len(body) >= 2 and body[1] == 0 and body[0] != 0:
                codec = "utf-16-le"
            else:
                codec = "utf-16-le" if byteorder == "<" else "utf-16-be"
            text = body[: len(body) // 2 * 2].decode(codec, errors="replace")
    elif prefix == _ASCII:
        text = body.decode("ascii", errors="replace")
    elif prefix == _JIS:
        text = body.decode("shift_jis", errors="replace")
    elif prefix == _UNDEFINED:
        text = body.decode("utf-8", errors="replace")
    else:
        text = raw.decode("utf-8", errors="replace")
    text = text.rstrip("\x00").strip()
    return text or None


def encode_user_comment(text: str) -> bytes:
    """A UserComment value as piexif (and so AUTOMATIC1111) writes it: UNICODE, UTF-16BE."""
    return _UNICODE + text.encode("utf-16-be")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    value = value.rstrip("\x00").strip()
    return value[:MAX_FIELD_CHARS] or None


def read_exif(exif: Image.Exif | None) -> ExifReport:
    """The provenance fields of a parsed EXIF block."""
    if exif is None:
        return ExifReport()
    report = ExifReport(present=len(exif) > 0)
    try:
        report.software = _text(exif.get(TAG_SOFTWARE))
        report.make = _text(exif.get(TAG_MAKE))
        report.model = _text(exif.get(TAG_MODEL))
        report.image_description = _text(exif.get(TAG_IMAGE_DESCRIPTION))
        report.artist = _text(exif.get(TAG_ARTIST))
        sub = exif.get_ifd(TAG_EXIF_IFD)
        report.present = report.present or bool(sub)
        comment = sub.get(TAG_USER_COMMENT)
        if isinstance(comment, (bytes, str)):
            decoded = decode_user_comment(comment, exif.endian)
            report.user_comment = decoded[:MAX_FIELD_CHARS] if decoded else None
    except (ValueError, KeyError, TypeError, OSError, SyntaxError) as exc:
        report.errors.append(f"malformed EXIF: {exc}")
    return report


def build_exif(
    software: str, user_comment: str | None = None, base: Image.Exif | None = None
) -> Image.Exif:
    """An EXIF block with ``Software`` and, if given, an A1111-style ``UserComment``; on top
    of a copy of ``base`` (a file's own EXIF, kept) when given."""
    exif = Image.Exif()
    if base is not None:
        exif.load(base.tobytes())
    exif[TAG_SOFTWARE] = software
    if user_comment:
        exif.get_ifd(TAG_EXIF_IFD)[TAG_USER_COMMENT] = encode_user_comment(user_comment)
    return exif


__all__ = [
    "ExifReport",
    "build_exif",
    "decode_user_comment",
    "encode_user_comment",
    "read_exif",
]
