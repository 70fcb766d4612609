"""Builders of hostile and awkward image files, shared by the loader, CLI and service tests."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bytes(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", **params)
    return buf.getvalue()


def jpeg_bytes(image: Image.Image, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", **params)
    return buf.getvalue()


def photo_like(size: tuple[int, int] = (96, 64), seed: int = 0) -> Image.Image:
    """A smooth gradient with noise: compresses like a photo, not like a flat colour."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1
    )
    arr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def pixel_bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid PNG header that claims ``width x height`` pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * keep))]


def cmyk_jpeg() -> bytes:
    return jpeg_bytes(photo_like().convert("CMYK"))


def png16() -> bytes:
    ramp = (np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) * 32).astype(np.uint16)
    return png_bytes(Image.fromarray(ramp))


def palette_transparent_png() -> bytes:
    im = Image.new("P", (40, 30), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    im.paste(1, (10, 10, 30, 20))
    return png_bytes(im, transparency=0)


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (32, 24), (i * 80, 10, 10)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return buf.getvalue()


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    im = photo_like((80, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg_bytes(im, exif=exif.tobytes())


def png_with_text_chunk(size: int = 10 * 1024 * 1024) -> bytes:
    """A small PNG carrying a ``size``-byte uncompressed text chunk."""
    data = png_bytes(photo_like((32, 32)))
    text = _chunk(b"tEXt", b"comment\x00" + b"A" * size)
    return data[:33] + text + data[33:]


def polyglot_png_zip() -> bytes:
    """A PNG with a ZIP archive appended: decodes as a PNG, opens as a ZIP."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "not an image")
    return png_bytes(photo_like((32, 32))) + buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_with_chunk(kind: bytes, payload: bytes, base: bytes | None = None) -> bytes:
    data = base or png_bytes(photo_like((48, 48)))
    return data[:33] + _chunk(kind, payload) + data[33:]


def jpeg_with_segment(marker: int, payload: bytes, base: bytes | None = None) -> bytes:
    """Insert a JPEG marker segment (APPn, COM) right after SOI."""
    data = base or jpeg_bytes(photo_like((48, 48)))
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def jpeg_size_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A baseline JPEG whose SOF0 claims ``width x height`` pixels."""
    data = bytearray(jpeg_bytes(photo_like((16, 16))))
    at = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def gif_size_bomb() -> bytes:
    data = bytearray(animated_gif(1))
    struct.pack_into("<HH", data, 6, 65_535, 65_535)
    struct.pack_into("<HH", data, data.find(b"\x2c") + 5, 65_535, 65_535)
    return bytes(data)


def bad_crc_png() -> bytes:
    data = bytearray(png_bytes(photo_like((32, 32))))
    data[29] ^= 0xFF  # IHDR CRC
    return bytes(data)


def apng(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (24, 24), (i * 60, 30, 90)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="PNG", save_all=True, append_images=images[1:], duration=40)
    return buf.getvalue()


def animated_webp(frames: int = 3) -> bytes:
    images = [Image.new("RGB", (24, 24), (i * 60, 90, 30)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="WEBP", save_all=True, append_images=images[1:], duration=40)
    return buf.getvalue()


def encoded(fmt: str, image: Image.Image | None = None, **params: object) -> bytes:
    buf = io.BytesIO()
    (image or photo_like((64, 48))).save(buf, format=fmt, **params)
    return buf.getvalue()


#: name -> (file name, builder, True if a readable image must come out)
CORPUS: dict[str, tuple[str, object, bool]] = {
    "zero_bytes": ("zero.png", lambda: b"", False),
    "truncated_png": ("cut.png", lambda: truncated(png_bytes(photo_like((128, 128))), 0.4), False),
    "truncated_jpeg": (
        "cut.jpg",
        lambda: truncated(jpeg_bytes(photo_like((128, 128))), 0.4),
        False,
    ),
    "truncated_webp": (
        "cut.webp",
        lambda: truncated(encoded("WEBP", photo_like((128, 128))), 0.5),
        False,
    ),
    "pixel_bomb_png": ("bomb.png", pixel_bomb_png, False),
    "pixel_bomb_jpeg": ("bomb.jpg", jpeg_size_bomb, False),
    "pixel_bomb_gif": ("bomb.gif", gif_size_bomb, False),
    "wrong_extension": ("png_named.jpg", lambda: png_bytes(photo_like()), True),
    "polyglot_png_zip": ("polyglot.png", polyglot_png_zip, True),
    "polyglot_jpeg_html": (
        "polyglot.jpg",
        lambda: jpeg_bytes(photo_like()) + b"<html><script>alert(1)</script></html>",
        True,
    ),
    "text_as_png": ("notes.png", lambda: b"just some text, not an image\n" * 20, False),
    "svg_as_jpeg": ("vector.jpg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', False),
    "corrupt_c2pa_png": (
        "c2pa_box.png",
        lambda: _png_with_chunk(b"caBX", b"\x00\x00\x00\x10jumb" + bytes(range(256)) * 4),
        True,
    ),
    "corrupt_c2pa_jpeg": (
        "c2pa_box.jpg",
        lambda: jpeg_with_segment(
            0xEB, b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb" + b"\xff" * 300
        ),
        True,
    ),
    "huge_text_chunk": ("text10mb.png", png_with_text_chunk, True),
    "malformed_xmp": (
        "bad_xmp.png",
        lambda: _png_with_chunk(
            b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta><rdf:RDF><<<"
        ),
        True,
    ),
    "bogus_parameters": (
        "params.png",
        lambda: _png_with_chunk(
            b"tEXt", b"parameters\x00" + "Steps: \u00ff\u00fe, Seed: -1e999\x00".encode("latin-1")
        ),
        True,
    ),
    "corrupt_exif": (
        "bad_exif.jpg",
        lambda: jpeg_with_segment(0xE1, b"Exif\x00\x00MM\x00*" + b"\xff" * 64),
        True,
    ),
    "corrupt_icc": (
        "bad_icc.png",
        lambda: _png_with_chunk(b"iCCP", b"icc\x00\x00" + b"\x78\x9c" + b"\x00" * 40),
        True,
    ),
    "many_jpeg_comments": (
        "comments.jpg",
        lambda: b"".join(
            [jpeg_bytes(photo_like())[:2]]
            + [b"\xff\xfe\x00\x05abc"] * 5000
            + [jpeg_bytes(photo_like())[2:]]
        ),
        True,
    ),
    "bad_crc_png": ("crc.png", bad_crc_png, False),
    "jpeg_markers_only": ("empty.jpg", lambda: b"\xff\xd8\xff\xd9", False),
    "animated_gif": ("anim.gif", animated_gif, True),
    "animated_png": ("anim.png", apng, True),
    "animated_webp": ("anim.webp", animated_webp, True),
    "png_16bit": ("deep.png", png16, True),
    "cmyk_jpeg": ("cmyk.jpg", cmyk_jpeg, True),
    "palette_transparency": ("palette.png", palette_transparent_png, True),
    "exif_rotated": ("rotated.jpg", exif_rotated_jpeg, True),
    "exif_bogus_orientation": ("orient9.jpg", lambda: exif_rotated_jpeg(9), True),
    "grey_alpha_png": ("la.png", lambda: png_bytes(Image.new("LA", (20, 20), (80, 128))), True),
    "one_bit_bmp": ("mono.bmp", lambda: encoded("BMP", photo_like().convert("1")), True),
    "multipage_tiff": (
        "pages.tif",
        lambda: encoded(
            "TIFF",
            photo_like(),
            save_all=True,
            append_images=[photo_like(seed=1)],
            compression="tiff_lzw",
        ),
        True,
    ),
    "avif": ("photo.avif", lambda: encoded("AVIF", photo_like()), True),
    "one_pixel": ("dot.png", lambda: png_bytes(Image.new("RGB", (1, 1), (9, 9, 9))), True),
    "thin_strip": ("strip.png", lambda: png_bytes(Image.new("RGB", (8000, 2), (50, 60, 70))), True),
}


def build_corpus(folder: Path) -> dict[str, tuple[Path, bool]]:
    """Write every hostile file of :data:`CORPUS` into ``folder``.

    Returns name -> (path, whether a decoded image is the correct outcome).
    """
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, bool]] = {}
    for name, (file_name, builder, readable) in CORPUS.items():
        out[name] = (write(folder / file_name, builder()), readable)  # type: ignore[operator]
    return out
