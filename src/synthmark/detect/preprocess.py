"""What the detector does to every image before a feature is computed, in training and use alike.

Two steps, both chosen to remove the container from what the detector can see:

1. **Grid-aligned crop, never a resize.** Images larger than ``max_side`` are cropped to a
   centred window whose offset is a multiple of 8, so the 8x8 grid of JPEG blocks and of the
   latent decoder stays where it was. Resizing would erase the traces the detector looks
   for and invent new ones.
2. **Canonical re-encoding.** The crop is JPEG-encoded at ``quality`` (default 75, 4:2:0) and
   decoded again. A photo saved at q92, a PNG and a JPEG q75 all come out with the same
   last compression, so the detector cannot tell them apart by their container. The
   generated images this package was built with were published as JPEG q75 or WebP: without
   this step, "compressed at q75" would be the easiest thing to learn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from synthmark.errors import ImageTooSmall, OutsideDomain, UsageError

GRID = 8

#: Above this share of flat pixels (|Laplacian| < 1 on the canonical luminance) the detector
#: abstains. Measured on ../shared/data/detector: at most 0.62 for real photos and 0.68 for
#: generated images; a text screenshot is about 0.75, a blank image 1.
MAX_FLAT_FRACTION = 0.72
#: Below this mean |Laplacian| (grey levels) the detector abstains: at least 1.7 on every
#: image of that data set, 0.5 for a smooth gradient, 0.04 for near-white with +-2 noise.
MIN_TEXTURE = 1.0


@dataclass(frozen=True)
class Preprocess:
    """Crop to at most ``max_side`` (grid-aligned) and re-encode as JPEG ``quality``.

    ``quality=None`` skips the re-encoding (only for experiments: it lets compression
    history through). ``min_side`` is the smallest side the features are defined for.
    """

    quality: int | None = 75
    max_side: int = 1024
    min_side: int = 64

    def __post_init__(self) -> None:
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise UsageError(
                f"canonical JPEG quality must be in 1..100 or None, got {self.quality}"
            )
        if self.max_side < self.min_side or self.min_side < 2 * GRID:
            raise UsageError(
                f"need {2 * GRID} <= min_side <= max_side, got min_side={self.min_side}, "
                f"max_side={self.max_side}"
            )

    def __call__(self, image: Image.Image) -> Image.Image:
        """The canonical RGB image the features see."""
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        w, h = rgb.size
        if min(w, h) < self.min_side:
            raise ImageTooSmall(
                f"image is {w}x{h}; the detector needs at least {self.min_side} px on each side"
            )
        rgb = grid_crop(rgb, self.max_side)
        if self.quality is None:
            return rgb
        return jpeg_roundtrip(rgb, self.quality)


def check_texture(
    canonical: Image.Image,
    max_flat: float = MAX_FLAT_FRACTION,
    min_texture: float = MIN_TEXTURE,
) -> None:
    """Raise :class:`OutsideDomain` for an image the detector was not made for.

    The detector reads the fine residual of photographs and photo-like generated images.
    A blank image, a gradient or a screenshot of text has almost none once re-encoded, and
    what is left there is the 8x8 blocking of the canonical JPEG, which looks like a
    decoder's grid: it would be called generated with full confidence. ``canonical`` is the
    output of :class:`Preprocess`.
    """
    from synthmark.detect.extractors.residuals import residual

    y = np.asarray(canonical.convert("L"), dtype=np.float32)
    if min(y.shape) < 3:
        return
    lap = np.abs(residual(y, "lap")[1:-1, 1:-1])  # the border has no Laplacian
    flat = float((lap < 1.0).mean())
    texture = float(lap.mean())
    if flat > max_flat or texture < min_texture:
        raise OutsideDomain(
            f"the detector does not apply to this image: {flat:.0%} of it is flat and its "
            f"texture is {texture:.2f} grey levels (limits {max_flat:.0%} and "
            f"{min_texture:.1f}); it was made for photographs and photo-like generated "
            "images, not blank images, flat graphics or screenshots"
        )


def grid_crop(image: Image.Image, max_side: int) -> Image.Image:
    """Centre crop to at most ``max_side`` per side, with offsets that are multiples of 8."""
    w, h = image.size
    cw, ch = min(w, max_side), min(h, max_side)
    if (cw, ch) == (w, h):
        return image
    left = ((w - cw) // 2) // GRID * GRID
    top = ((h - ch) // 2) // GRID * GRID
    return image.crop((left, top, left + cw, top + ch))


def grid_tiles(
    canonical: Image.Image, tile: int, max_tiles: int, multiple: int = GRID
) -> list[Image.Image]:
    """Square tiles of ``tile`` px on a grid centred on the image, offsets on the 8 px grid.

    An image smaller than ``tile`` gives one tile of its largest side that is a multiple of
    ``multiple``; with more than ``max_tiles`` tiles, ``max_tiles`` of them are kept, evenly
    spread.
    """
    w, h = canonical.size
    side = min(tile, (min(w, h) // multiple) * multiple)
    if side < multiple:
        raise ImageTooSmall(f"image is {w}x{h}; tiles need at least {multiple} px per side")
    xs = list(range(0, w - side + 1, side))
    ys = list(range(0, h - side + 1, side))
    dx = ((w - (xs[-1] + side)) // 2) // GRID * GRID
    dy = ((h - (ys[-1] + side)) // 2) // GRID * GRID
    boxes = [(x + dx, y + dy, x + dx + side, y + dy + side) for y in ys for x in xs]
    if len(boxes) > max_tiles:
        keep = np.linspace(0, len(boxes) - 1, max_tiles).round().astype(int)
        boxes = [boxes[i] for i in keep]
    return [canonical.crop(b) for b in boxes]


def jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    """Encode as JPEG (Pillow defaults: 4:2:0, standard tables) and decode again."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")


__all__ = ["GRID", "Preprocess", "grid_crop", "grid_tiles", "jpeg_roundtrip"]
