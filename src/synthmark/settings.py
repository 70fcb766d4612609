"""Where runtime state lives: one home folder, passed around as a :class:`Settings` object.

``SYNTHMARK_HOME`` overrides the platform's application folder; ``SYNTHMARK_MODELS`` names a
folder of pretrained weight files laid out like the project's ``shared/models`` (tests, CI
and offline users point it there); ``HF_HUB_OFFLINE=1`` forbids downloads. Nothing here is global:
callers build a :class:`Settings` (usually with :meth:`Settings.from_env`) and hand it on.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

HOME_ENV = "SYNTHMARK_HOME"
REGISTRY_ENV = "SYNTHMARK_REGISTRY"
PRETRAINED_ENV = "SYNTHMARK_MODELS"
OFFLINE_ENV = "HF_HUB_OFFLINE"


def default_home() -> Path:
    """The platform's per-user application folder for synthmark."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "synthmark"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "synthmark"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "synthmark"


@dataclass(frozen=True)
class Settings:
    """Paths of synthmark's runtime state, all under one home folder."""

    home: Path = field(default_factory=default_home)
    #: A registry URL (``postgresql://...``) used instead of :attr:`registry_path`.
    #: Not in ``repr``: it may hold a password.
    registry_url: str | None = field(default=None, repr=False)
    #: A folder of pretrained weight files (``$SYNTHMARK_MODELS``), laid out like
    #: ``shared/models`` (``imagenet_mobilenet/...``); searched after the home cache.
    pretrained_dir: Path | None = None
    #: No downloads (``$HF_HUB_OFFLINE`` set to 1/true/yes).
    offline: bool = False

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Settings from an explicit ``home``, else ``$SYNTHMARK_HOME``, else the default;
        the registry URL from ``$SYNTHMARK_REGISTRY``, the pretrained weights folder from
        ``$SYNTHMARK_MODELS`` and ``offline`` from ``$HF_HUB_OFFLINE``, if set."""
        chosen = home or os.environ.get(HOME_ENV)
        pretrained = os.environ.get(PRETRAINED_ENV)
        return cls(
            home=Path(chosen).expanduser() if chosen else default_home(),
            registry_url=os.environ.get(REGISTRY_ENV) or None,
            pretrained_dir=Path(pretrained).expanduser() if pretrained else None,
            offline=os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on"),
        )

    @property
    def keys_dir(self) -> Path:
        """Secret material: watermark keys and C2PA signing credentials (mode 0700)."""
        return self.home / "keys"

    @property
    def models_dir(self) -> Path:
        """Detector models trained or installed by the user."""
        return self.home / "models"

    @property
    def weights_cache(self) -> Path:
        """Pretrained weight files downloaded (and checked) by synthmark."""
        return self.home / "cache" / "weights"

    @property
    def registry_path(self) -> Path:
        """The embedded SQLite registry."""
        return self.home / "registry.sqlite3"

    def ensure_private_dir(self, path: Path) -> Path:
        """Create ``path`` (and the home folder) with owner-only permissions."""
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        return path


__all__ = ["HOME_ENV", "OFFLINE_ENV", "PRETRAINED_ENV", "REGISTRY_ENV", "Settings", "default_home"]
