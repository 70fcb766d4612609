"""Image perturbations ("attacks"), by name: one module for the watermark benchmark, the
detector's robustness checks and ``synthmark eval``.

Each attack is a pure function of the image (and, for noise, of a seed): applying the same
attack to the same image gives the same result. Names carry their parameter after a colon,
so that a command line or a report can name an attack in one token:

>>> get_attack("jpeg:50").apply(image)                   # doctest: +SKIP
>>> [a.name for a in parse_attacks("jpeg:75,resize:0.5")]
['jpeg:75', 'resize:0.5']

``regen`` re-synthesises the image through a tiny generative autoencoder
(:mod:`synthmark.attacks.regen`; it needs the TAEF2 weights). The attacks that need more
than one image, forging a mark onto a photo (``copy``) and removing it by averaging many
marked images (``average:N``), are in :mod:`synthmark.attacks.security`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from synthmark.errors import UsageError
from synthmark.names import NameRegistry

AttackFn = Callable[[Image.Image, float], Image.Image]


@dataclass(frozen=True)
class Attack:
    """A named, parametrised perturbation. ``apply`` always returns a new RGB image."""

    kind: str
    param: float | None
    fn: AttackFn = field(repr=False, compare=False)
    description: str = ""

    @property
    def name(self) -> str:
        """``kind`` or ``kind:param``, as accepted by :func:`get_attack`."""
        return self.kind if self.param is None else f"{self.kind}:{_fmt(self.param)}"

    def apply(self, image: Image.Image) -> Image.Image:
        """Perturb ``image`` (converted to RGB first)."""
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        return self.fn(rgb, self.param if self.param is not None else math.nan).convert("RGB")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _reencode(image: Image.Image, fmt: str, **params: object) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


def jpeg(image: Image.Image, quality: float) -> Image.Image:
    """JPEG at ``quality`` with Pillow's default 4:2:0 chroma subsampling."""
    return _reencode(image, "JPEG", quality=int(quality))


def webp(image: Image.Image, quality: float) -> Image.Image:
    """Lossy WebP at ``quality``."""
    return _reencode(image, "WEBP", quality=int(quality))


def resize(image: Image.Image, factor: float) -> Image.Image:
    """Scale both sides by ``factor`` (bicubic, antialiased when shrinking)."""
    w, h = image.size
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=None)


def center_crop(image: Image.Image, area: float) -> Image.Image:
    """Keep the centred rectangle with ``area`` of the original area (same aspect)."""
    w, h = image.size
    side = math.sqrt(area)
    cw, ch = max(1, round(w * side)), max(1, round(h * side))
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


def crop_offset(image: Image.Image, area: float) -> Image.Image:
    """Keep a rectangle of ``area`` of the original anchored at the top-left corner."""
    w, h = image.size
    side = math.sqrt(area)
    return image.crop((0, 0, max(1, round(w * side)), max(1, round(h * side))))


def blur(image: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    return image.filter(ImageFilter.GaussianBlur(radius=sigma))


def noise(image: Image.Image, sigma: float) -> Image.Image:
    """Additive Gaussian noise, ``sigma`` on the 0-255 scale, seeded by the image size."""
    rng = np.random.default_rng(image.size[0] * 100_003 + image.size[1])
    arr = np.asarray(image, dtype=np.float32)
    noisy = arr + rng.normal(0.0, sigma, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), "RGB")


def brightness(image: Image.Image, factor: float) -> Image.Image:
    """Multiply brightness by ``factor``."""
    return ImageEnhance.Brightness(image).enhance(factor)


def contrast(image: Image.Image, factor: float) -> Image.Image:
    """Scale contrast about the mean grey by ``factor``."""
    return ImageEnhance.Contrast(image).enhance(factor)


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate about the centre, keeping the size; uncovered corners are black."""
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)


def rotate_crop(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate, then crop to the largest centred rectangle without black corners."""
    w, h = image.size
    rotated = rotate(image, degrees)
    a = math.radians(abs(degrees))
    # Largest axis-aligned rectangle of the same aspect inside the rotated frame.
    scale = 1.0 / (math.cos(a) + max(w / h, h / w) * math.sin(a))
    return center_crop(rotated, scale * scale)


def hflip(image: Image.Image, _: float) -> Image.Image:
    """Mirror left-right."""
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def chain_jpeg_resize_crop(image: Image.Image, _: float) -> Image.Image:
    """JPEG q75, then resize 0.75, then centre crop keeping 80% of the area."""
    return center_crop(resize(jpeg(image, 75), 0.75), 0.8)


def social(image: Image.Image, _: float) -> Image.Image:
    """A social-media upload: longest side at most 1080 px, then JPEG q80."""
    w, h = image.size
    factor = min(1.0, 1080 / max(w, h))
    return jpeg(resize(image, factor) if factor < 1 else image, 80)


def screenshot(image: Image.Image, factor: float) -> Image.Image:
    """A screenshot-like copy: rescale by ``factor`` (bilinear), sharpen, save as PNG."""
    w, h = image.size
    scaled = image.resize((max(1, round(w * factor)), max(1, round(h * factor))),
                          Image.Resampling.BILINEAR)
    return scaled.filter(ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=2))


def crop_pad(image: Image.Image, area: float) -> Image.Image:
    """Crop a centred ``area`` fraction, then pad back to the original size with grey."""
    cropped = center_crop(image, area)
    canvas = Image.new("RGB", image.size, (128, 128, 128))
    canvas.paste(cropped, ((image.size[0] - cropped.size[0]) // 2,
                           (image.size[1] - cropped.size[1]) // 2))
    return canvas


def aspect(image: Image.Image, factor: float) -> Image.Image:
    """Stretch the height by ``factor``, the width unchanged (bicubic)."""
    w, h = image.size
    return image.resize((w, max(1, round(h * factor))), Image.Resampling.BICUBIC, reducing_gap=None)


def shear(image: Image.Image, degrees: float) -> Image.Image:
    """Shear horizontally by ``degrees`` about the centre (x += tan(angle) * y), keeping
    the size; uncovered corners are black."""
    w, h = image.size
    t = math.tan(math.radians(degrees))
    # output (x, y) samples input (x - t (y - h/2), y)
    return image.transform(
        (w, h), Image.Transform.AFFINE, (1.0, -t, t * h / 2, 0.0, 1.0, 0.0),
        resample=Image.Resampling.BICUBIC,
    )


def compound(image: Image.Image, _: float) -> Image.Image:
    """WebP q60, rotate 5 degrees (black corners), centre crop to 60% of the area, JPEG
    q60."""
    return jpeg(center_crop(rotate(webp(image, 60), 5.0), 0.6), 60)


def identity(image: Image.Image, _: float) -> Image.Image:
    """No change (the clean baseline)."""
    return image.copy()


@dataclass(frozen=True)
class AttackKind:
    """One kind of attack: its function (or a ``factory`` that builds one per call, for an
    attack that owns a model), whether it takes a parameter, and the parameter's valid
    range, inclusive."""

    fn: AttackFn | None
    needs_param: bool
    description: str
    range: tuple[float, float] = (-math.inf, math.inf)
    factory: Callable[[], AttackFn] | None = field(default=None, compare=False)

    def build(self) -> AttackFn:
        """The attack's function (made now, for a kind with a factory)."""
        if self.factory is not None:
            return self.factory()
        if self.fn is None:
            raise TypeError("an attack kind needs a function or a factory")
        return self.fn


#: The attack kinds, by name (:func:`get_attack`, :func:`list_attacks`).
ATTACKS: NameRegistry[AttackKind] = NameRegistry("attack", sort=True)
for _name, _kind in {
    "none": AttackKind(identity, False, "no change"),
    "jpeg": AttackKind(jpeg, True, "JPEG at quality Q (4:2:0)", (1, 100)),
    "webp": AttackKind(webp, True, "WebP at quality Q", (1, 100)),
    "resize": AttackKind(resize, True, "scale both sides by F", (0.01, 10)),
    "crop": AttackKind(center_crop, True, "centre crop keeping fraction A of the area", (0.01, 1)),
    "crop_corner": AttackKind(
        crop_offset, True, "top-left crop keeping fraction A of the area", (0.01, 1)
    ),
    "blur": AttackKind(blur, True, "Gaussian blur, sigma S px", (0, 50)),
    "noise": AttackKind(noise, True, "Gaussian noise, sigma S on 0-255", (0, 255)),
    "brightness": AttackKind(brightness, True, "brightness x F", (0, 10)),
    "contrast": AttackKind(contrast, True, "contrast x F", (0, 10)),
    "rotate": AttackKind(
        rotate, True, "rotate by D degrees, same size, black corners", (-360, 360)
    ),
    "rotate_crop": AttackKind(
        rotate_crop, True, "rotate by D degrees and crop the black corners", (-45, 45)
    ),
    "hflip": AttackKind(hflip, False, "mirror left-right"),
    "chain": AttackKind(chain_jpeg_resize_crop, False, "JPEG q75 -> resize 0.75 -> crop 80%"),
    "social": AttackKind(social, False, "longest side 1080, then JPEG q80"),
    "screenshot": AttackKind(screenshot, True, "rescale by F (bilinear) and sharpen", (0.05, 10)),
    "crop_pad": AttackKind(
        crop_pad, True, "centre crop fraction A, pad back to size with grey", (0.01, 1)
    ),
    "aspect": AttackKind(aspect, True, "stretch the height by F (width unchanged)", (0.1, 10)),
    "shear": AttackKind(shear, True, "shear horizontally by D degrees, same size", (-45, 45)),
    "compound": AttackKind(compound, False, "WebP q60 -> rotate 5 -> crop 60% -> JPEG q60"),
    "regen": AttackKind(
        None,
        False,
        "encode and decode with the TAEF2 autoencoder",
        factory=lambda: _regenerator(),
    ),
}.items():
    ATTACKS.register(_name, _kind)


def _regenerator() -> AttackFn:
    from synthmark.attacks.regen import Regenerator

    return Regenerator()


def list_attacks() -> list[str]:
    """Known attack kinds."""
    return ATTACKS.names()


def _param(name: str, kind: str, raw: str, about: AttackKind) -> float | None:
    """The parameter of ``name``, checked against the kind's range."""
    if not about.needs_param:
        if raw:
            raise UsageError(f"attack {kind!r} takes no parameter, got {name!r}")
        return None
    if not raw:
        raise UsageError(
            f"attack {kind!r} needs a parameter, e.g. {kind}:0.5 ({about.description})"
        )
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"attack {name!r}: parameter {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"attack {name!r}: parameter must be finite")
    lo, hi = about.range
    if not lo <= value <= hi:
        raise UsageError(
            f"attack {name!r}: parameter must be in {lo:g}..{hi:g} ({about.description})"
        )
    return value


def get_attack(name: str) -> Attack:
    """An attack from ``kind`` or ``kind:param``, e.g. ``jpeg:50`` or ``hflip``.

    Raises:
        UsageError: unknown kind, or a missing or malformed parameter.
    """
    kind, _, raw = name.strip().partition(":")
    about = ATTACKS[kind]
    param = _param(name, kind, raw, about)
    return Attack(kind=kind, param=param, fn=about.build(), description=about.description)


def parse_attacks(spec: str | Sequence[str]) -> list[Attack]:
    """Attacks from a comma-separated string or a sequence of names."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    return [get_attack(n) for n in names if n.strip()]


#: The attack set of the watermark targets (issue "Watermarks").
WATERMARK_TARGET_ATTACKS: tuple[str, ...] = (
    "none", "jpeg:50", "webp:50", "resize:0.5", "resize:1.5", "crop:0.5", "blur:1",
    "noise:5", "brightness:0.7", "brightness:1.3", "contrast:0.7", "contrast:1.3",
    "rotate:2", "rotate:-2", "chain",
)

#: Stretch goals of the watermark targets.
WATERMARK_STRETCH_ATTACKS: tuple[str, ...] = ("rotate:10", "rotate:-10", "hflip")

#: Geometry beyond a similarity, and a compound chain (issue "Watermark security").
WATERMARK_GEOMETRY_ATTACKS: tuple[str, ...] = ("aspect:0.8", "aspect:1.25", "shear:5", "compound")

#: The detector evaluation's perturbation grid, applied to both classes alike.
DETECTOR_GRID: tuple[str, ...] = (
    "none", "jpeg:95", "jpeg:75", "jpeg:50", "webp:75", "resize:0.75", "resize:0.5",
    "resize:0.25", "crop:0.5", "blur:1", "blur:2", "noise:5", "social",
)

__all__ = [
    "ATTACKS",
    "DETECTOR_GRID",
    "WATERMARK_GEOMETRY_ATTACKS",
    "WATERMARK_STRETCH_ATTACKS",
    "WATERMARK_TARGET_ATTACKS",
    "Attack",
    "AttackKind",
    "get_attack",
    "list_attacks",
    "parse_attacks",
]
