"""Real photos shipped with synthmark for demos (``make run``) and smoke tests.

They come from scikit-image's bundled data (``skimage/data``, scikit-image 0.26.0); the
licence of each is in ``photos/LICENSES.md``. Kodak's test images (released for unrestricted
use) were the first choice, but no package registry reachable from the build machine ships
them, so these public-domain and CC0 photographs stand in.
"""

from __future__ import annotations

from pathlib import Path

PHOTOS_DIR = Path(__file__).with_name("photos")


def sample_photos() -> list[Path]:
    """Paths of the bundled real photos, sorted by name."""
    return sorted(p for p in PHOTOS_DIR.iterdir() if p.suffix.lower() in (".png", ".jpg"))


__all__ = ["PHOTOS_DIR", "sample_photos"]
