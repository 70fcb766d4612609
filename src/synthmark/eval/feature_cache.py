"""A cache of detector features on disk, so that a second evaluation run is fast.

One ``.npy`` file per (image bytes, alignment, perturbation, feature extractor), read back with
``allow_pickle=False``. The key hashes the image's bytes, so a changed file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from synthmark.imaging import atomic_write

#: The detector parameters its features depend on (the head's do not change them).
FEATURE_PARAMS = (
    "extractor",
    "extractor_params",
    "canonical_quality",
    "max_side",
    "tile",
    "max_tiles",
    "tile_multiple",
)


def feature_params(detector: Any) -> dict[str, Any]:
    """The detector's :data:`FEATURE_PARAMS` and their values."""
    params = detector.get_params()
    return {k: params.get(k) for k in FEATURE_PARAMS}


def extractor_fingerprint(detector: Any) -> str:
    """What the features depend on: the detector's feature parameters and its fitted state."""
    feature_params_ = feature_params(detector)
    card = getattr(detector, "card", None)
    trained = getattr(card, "trained_at", None) or getattr(card, "created", None)
    text = json.dumps(
        {"params": feature_params_, "trained": str(trained)}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FeatureCache:
    """Maps (file digest, alignment, perturbation, extractor) to a feature array."""

    def __init__(self, folder: Path, fingerprint: str) -> None:
        self.folder = folder / fingerprint
        self.hits = 0
        self.misses = 0

    @staticmethod
    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _path(self, digest: str, alignment: str, attack: str) -> Path:
        name = hashlib.sha256(f"{digest}|{alignment}|{attack}".encode()).hexdigest()
        return self.folder / name[:2] / f"{name}.npy"

    def get(self, digest: str, alignment: str, attack: str) -> NDArray[np.float32] | None:
        path = self._path(digest, alignment, attack)
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return np.asarray(value, dtype=np.float32)

    def put(self, digest: str, alignment: str, attack: str, value: NDArray[np.float32]) -> None:
        path = self._path(digest, alignment, attack)
        path.parent.mkdir(parents=True, exist_ok=True)
        import io

        buf = io.BytesIO()
        np.save(buf, np.asarray(value, dtype=np.float32), allow_pickle=False)
        atomic_write(path, buf.getvalue())


def default_cache_dir(home: str | os.PathLike[str]) -> Path:
    """Where features are cached by default: ``<home>/cache/eval-features``."""
    return Path(home) / "cache" / "eval-features"


__all__ = [
    "FEATURE_PARAMS",
    "FeatureCache",
    "default_cache_dir",
    "extractor_fingerprint",
    "feature_params",
]
