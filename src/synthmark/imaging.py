"""Safe image input: the one place where synthmark decodes an image a user handed in.

Images from users are hostile. :func:`load_image` bounds the file size and the pixel count
before decoding, turns every decoder failure into a typed :class:`~synthmark.errors`
exception, applies the EXIF orientation, takes the first frame of animations and converts
every mode to 8-bit RGB, listing in :attr:`LoadedImage.notes` what the conversion lost.

>>> loaded = load_image("photo.jpg")          # doctest: +SKIP
>>> loaded.image.mode, loaded.format, loaded.notes
('RGB', 'JPEG', ['EXIF orientation 6 applied'])
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from glob import glob, has_magic
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from synthmark.errors import CorruptImage, ImageTooLarge, UnsupportedImage

#: Formats synthmark decodes. AVIF comes with Pillow >= 11.3; HEIC with the ``heic`` extra.
FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "AVIF", "HEIF")

#: File name suffixes picked up when a folder is expanded.
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".avif",
        ".heic",
        ".heif",
    }
)


@dataclass(frozen=True)
class ImageLimits:
    """Bounds applied before anything is decoded."""

    max_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 80_000_000

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError(
                f"limits must be positive, got max_bytes={self.max_bytes}, "
                f"max_pixels={self.max_pixels}"
            )


@dataclass
class LoadedImage:
    """A decoded, normalised image and what is known about its container."""

    image: Image.Image
    format: str
    original_mode: str
    original_size: tuple[int, int]
    data: bytes = field(repr=False)
    path: Path | None = None
    frames: int = 1
    notes: list[str] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the normalised image (after EXIF rotation)."""
        return self.image.size


def _heif_available() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def supported_formats() -> list[str]:
    """Formats this installation can decode (AVIF and HEIC depend on plugins)."""
    from PIL import features

    formats = ["PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF"]
    if features.check("avif"):
        formats.append("AVIF")
    if _heif_available():
        formats.append("HEIF")
    return formats


def _register_heif() -> None:
    if _heif_available():
        import pillow_heif

        pillow_heif.register_heif_opener()


def _read_source(
    source: str | os.PathLike[str] | bytes, limits: ImageLimits
) -> tuple[bytes, Path | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise ImageTooLarge(
                f"input is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes"
            )
        return data, None
    path = Path(source)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnsupportedImage(f"{path}: no such file") from None
    except OSError as exc:
        raise UnsupportedImage(f"{path}: cannot read ({exc.strerror})") from None
    if path.is_dir():
        raise UnsupportedImage(f"{path}: is a folder, not an image")
    if size > limits.max_bytes:
        raise ImageTooLarge(f"{path}: {size:,} bytes, over the limit of {limits.max_bytes:,} bytes")
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise UnsupportedImage(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"{path}: over the limit of {limits.max_bytes:,} bytes")
    return data, path


def _reduced_depth(im: Image.Image) -> int:
    """The bits per channel a colour image has in its file when Pillow decodes it to 8 (16
    for a 16-bit RGB(A) PNG or TIFF); 0 otherwise. Greyscale keeps its depth in Pillow and is
    noted by :func:`_to_rgb`."""
    if im.mode not in ("RGB", "RGBA", "RGBX", "CMYK"):
        return 0
    for tile in getattr(im, "tile", None) or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        raw = args if isinstance(args, str) else (args[0] if args else "")
        if isinstance(raw, str) and ";16" in raw:
            return 16
    return 0


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, noting what is lost."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr8 = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        notes.append(f"{'16' if top > 255 else '32'}-bit greyscale reduced to 8-bit RGB")
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scale = 255.0 if hi <= 1.0 and lo >= 0.0 else 1.0
        arr8 = np.clip(np.nan_to_num(arr * scale), 0, 255).astype(np.uint8)
        notes.append("floating-point greyscale reduced to 8-bit RGB")
        return Image.fromarray(arr8, "L").convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB without colour management")
        return im.convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette expanded to RGB")
        mode = im.mode
        if mode == "RGB":
            return im
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() != (255, 255):
            notes.append("transparency removed (composited on white)")
        else:
            notes.append("opaque alpha channel dropped")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1"):
        notes.append("greyscale expanded to RGB")
        return im.convert("RGB")
    if mode == "RGBX":
        return im.convert("RGB")
    notes.append(f"mode {mode} converted to RGB")
    return im.convert("RGB")


def _open(data: bytes, label: str, limits: ImageLimits) -> Image.Image:
    """Open (not decode) an image of a supported format, within the pixel limit."""
    Image.init()
    im = Image.open(io.BytesIO(data), formats=[f for f in FORMATS if f in Image.OPEN])
    width, height = im.size
    if width <= 0 or height <= 0:
        raise CorruptImage(f"{label}: image has no pixels ({width}x{height})")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"{label}: {width}x{height} = {width * height:,} pixels, over the limit "
            f"of {limits.max_pixels:,}; downscale it first or raise the limit"
        )
    return im


def _decode(
    data: bytes, path: Path | None, label: str, limits: ImageLimits
) -> LoadedImage:
    """Decode the first frame into 8-bit RGB, noting every conversion and decoder warning."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = _open(data, label, limits)
        original_size = im.size
        fmt = im.format or "unknown"
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1:
            im.seek(0)
            unit = "page" if fmt == "TIFF" else "frame"
            notes.append(f"multi-{unit} image ({frames} {unit}s): first {unit} used")
        original_mode = im.mode
        depth = _reduced_depth(im)  # read before load(): Pillow keeps 8 bits of RGB
        im.load()
        info = {str(k): v for k, v in im.info.items()}
        oriented = ImageOps.exif_transpose(im)
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (1, None):
            notes.append(f"EXIF orientation {orientation} applied")
        if depth:
            notes.append(f"{depth}-bit colour reduced to 8-bit")
        rgb = _to_rgb(oriented, notes)
        if rgb is im:
            rgb = im.copy()
        # Pixels only: metadata stays in LoadedImage.info, so that nothing downstream
        # (an encoder writing info["comment"], say) carries a file's metadata along.
        rgb.info = {}
    notes.extend(f"decoder warning: {w.message}" for w in caught)
    return LoadedImage(
        image=rgb,
        format=fmt,
        original_mode=original_mode,
        original_size=original_size,
        data=data,
        path=path,
        frames=frames,
        notes=notes,
        info=info,
    )


#: What Pillow's decoders raise on malformed data: a corrupt image, never a crash.
_DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
    ZeroDivisionError,
    TypeError,
    KeyError,
    RuntimeError,
    MemoryError,
)


def load_image(
    source: str | os.PathLike[str] | bytes,
    limits: ImageLimits | None = None,
) -> LoadedImage:
    """Decode an image from a path or bytes, safely, into 8-bit RGB.

    >>> loaded = load_image("upload.heic", ImageLimits(max_pixels=20_000_000))  # doctest: +SKIP
    >>> loaded.format, loaded.image.mode, loaded.notes                         # doctest: +SKIP
    ('HEIF', 'RGB', ['EXIF orientation 6 applied'])

    Raises:
        UnsupportedImage: empty input, unknown format or unreadable file.
        ImageTooLarge: over ``limits.max_bytes`` or ``limits.max_pixels``.
        CorruptImage: the decoder failed (truncated or malformed data).
    """
    limits = limits or ImageLimits()
    data, path = _read_source(source, limits)
    label = str(path) if path is not None else "input"
    if not data:
        raise UnsupportedImage(f"{label}: empty file (0 bytes)")
    _register_heif()
    try:
        return _decode(data, path, label, limits)
    except (ImageTooLarge, CorruptImage):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            f"{label}: decompression bomb refused: the image declares far more pixels than "
            f"the limit of {limits.max_pixels:,}"
        ) from None
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"{label}: not an image in a supported format ({', '.join(supported_formats())})"
        ) from None
    except _DECODER_ERRORS as exc:
        raise CorruptImage(f"{label}: cannot decode image ({exc})") from None


def error_detail(exc: BaseException | str, path: str | os.PathLike[str]) -> str:
    """An error's message without its leading ``"<path>: "``, for output that names the path
    already (a table row, a JSON record with a ``path`` key, ``"<path>: error: ..."``)."""
    message = str(exc)
    return message.removeprefix(f"{os.fspath(path)}: ")


@dataclass(frozen=True)
class InputItem:
    """One input found by :func:`expand_inputs`: a path, or why it could not be used."""

    path: Path
    error: str | None = None


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str]], recursive: bool = True
) -> Iterator[InputItem]:
    """Expand files, folders and glob patterns into image paths, in a stable order.

    Files named explicitly are yielded whatever their suffix (the loader sniffs content);
    folders and globs yield only files with an image suffix. A missing or unreadable input
    yields an :class:`InputItem` with ``error`` set, and expansion goes on.
    """
    seen: set[Path] = set()
    for raw in inputs:
        text = os.fspath(raw)
        if has_magic(text):
            matches = sorted(glob(text, recursive=True))
            if not matches:
                yield InputItem(Path(text), f"no file matches the pattern {text!r}")
            for match in matches:
                p = Path(match)
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p not in seen:
                    seen.add(p)
                    yield InputItem(p)
            continue
        path = Path(text)
        if path.is_dir():
            walker = path.rglob("*") if recursive else path.glob("*")
            try:
                children = sorted(walker)
            except OSError as exc:
                yield InputItem(path, f"cannot list folder ({exc.strerror})")
                continue
            for child in children:
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES and child not in seen:
                    seen.add(child)
                    yield InputItem(child)
        elif path.is_file():
            if path not in seen:
                seen.add(path)
                yield InputItem(path)
        elif path.exists():
            yield InputItem(path, "not a regular file")
        else:
            yield InputItem(path, "no such file or folder")


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: int = 0o644) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    Nothing is ever left under the final name half-written: on any exception the
    temporary file is removed and ``path`` is untouched.
    """
    final = Path(path)
    directory = final.parent if str(final.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _naming(exc, final) from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is not None and Path(exc.filename) == tmp:
            raise _naming(exc, final) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` about ``path`` rather than the temporary file (which no user ever named)."""
    if exc.errno is None:
        return OSError(f"cannot write {path}: {exc}")
    return OSError(exc.errno, exc.strerror, str(path))


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    with atomic_writer(path, mode=mode) as fh:
        fh.write(data)
    return Path(path)


def encode_image(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode ``image`` to bytes in ``fmt`` (PNG, JPEG or WEBP, ...)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "ImageLimits",
    "InputItem",
    "LoadedImage",
    "atomic_write",
    "atomic_writer",
    "encode_image",
    "error_detail",
    "expand_inputs",
    "load_image",
    "supported_formats",
]
