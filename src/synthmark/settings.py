"""Where runtime state lives and how it is configured: one :class:`Settings` object.

Every ``SYNTHMARK_*`` environment variable is read here, once, by :meth:`Settings.from_env`;
the rest of the package reads the :class:`Settings` it is handed. ``SYNTHMARK_HOME``
overrides the platform's application folder; ``SYNTHMARK_MODELS`` names a folder of
pretrained weight files laid out like the project's ``shared/models`` (tests, CI and offline
users point it there); ``HF_HUB_OFFLINE=1`` forbids downloads. Nothing here is global:
callers build a :class:`Settings` (usually with :meth:`Settings.from_env`) and hand it on,
and tests build one directly.

>>> settings = Settings.from_env(environ={"SYNTHMARK_HOME": "/srv/synthmark"})
>>> settings.registry_path.as_posix()
'/srv/synthmark/registry.sqlite3'

Randomness is a part like any other: :attr:`Settings.entropy` makes the secret keys
(``secrets.token_bytes`` unless a test passes its own).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOME_ENV = "SYNTHMARK_HOME"
REGISTRY_ENV = "SYNTHMARK_REGISTRY"
#: A watermark key file to use instead of the home folder's.
WATERMARK_KEY_ENV = "SYNTHMARK_WATERMARK_KEY"
#: Your own C2PA signing certificate chain and private key (PEM files), and a time-stamp
#: authority (RFC 3161) URL.
C2PA_CERT_ENV = "SYNTHMARK_C2PA_CERT"
C2PA_KEY_ENV = "SYNTHMARK_C2PA_KEY"
C2PA_TSA_ENV = "SYNTHMARK_C2PA_TSA_URL"
#: The organisation named in the labels (California SB 942's provider).
PROVIDER_ENV = "SYNTHMARK_PROVIDER"
#: The bearer token the HTTP service asks for on ``/v1/`` requests.
API_TOKEN_ENV = "SYNTHMARK_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
#: The diffusion model ``synthmark generate`` loads (an option's default only).
MODEL_ENV = "SYNTHMARK_MODEL"
#: A folder of pretrained weight files (the detector's backbone), and no downloads.
PRETRAINED_ENV = "SYNTHMARK_MODELS"
OFFLINE_ENV = "HF_HUB_OFFLINE"
#: The folder of the regeneration attack's TAEF2 weights.
REGEN_ENV = "SYNTHMARK_REGEN_WEIGHTS"
#: What the generator integrations do with a picture they could not label.
FAILURE_ENV = "SYNTHMARK_ON_FAILURE"

#: Every variable :meth:`Settings.from_env` reads, for documentation and tests.
ENVIRONMENT = (
    HOME_ENV,
    REGISTRY_ENV,
    WATERMARK_KEY_ENV,
    C2PA_CERT_ENV,
    C2PA_KEY_ENV,
    C2PA_TSA_ENV,
    PROVIDER_ENV,
    API_TOKEN_ENV,
    PRETRAINED_ENV,
    OFFLINE_ENV,
    REGEN_ENV,
    FAILURE_ENV,
)


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """The platform's per-user application folder for synthmark."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "synthmark"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "synthmark"
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "synthmark"


@dataclass(frozen=True)
class Settings:
    """Paths of synthmark's runtime state, all under one home folder, and the configuration
    the environment gives (each field names its variable).

    >>> Settings(home=Path("/srv/synthmark")).keys_dir.as_posix()
    '/srv/synthmark/keys'
    """

    home: Path = field(default_factory=default_home)
    #: A registry URL (``postgresql://...``) used instead of :attr:`registry_path`
    #: (``$SYNTHMARK_REGISTRY``). Not in ``repr``: it may hold a password.
    registry_url: str | None = field(default=None, repr=False)
    #: A watermark key file used instead of the home folder's (``$SYNTHMARK_WATERMARK_KEY``).
    watermark_key_file: str | None = None
    #: Your C2PA certificate chain and private key (``$SYNTHMARK_C2PA_CERT``,
    #: ``$SYNTHMARK_C2PA_KEY``), used instead of the home folder's local CA.
    c2pa_cert: str | None = None
    c2pa_key: str | None = None
    #: A time-stamp authority for C2PA signatures (``$SYNTHMARK_C2PA_TSA_URL``).
    tsa_url: str | None = None
    #: The organisation named in the labels (``$SYNTHMARK_PROVIDER``).
    provider: str | None = None
    #: The service's bearer token (``$SYNTHMARK_API_TOKEN``). Not in ``repr``.
    api_token: str | None = field(default=None, repr=False)
    #: A folder of pretrained weight files (``$SYNTHMARK_MODELS``), laid out like
    #: ``shared/models`` (``imagenet_mobilenet/...``); searched after the home cache.
    pretrained_dir: Path | None = None
    #: No downloads (``$HF_HUB_OFFLINE`` set to 1/true/yes/on).
    offline: bool = False
    #: The folder of the regeneration attack's TAEF2 weights (``$SYNTHMARK_REGEN_WEIGHTS``).
    regen_weights: Path | None = None
    #: The integrations' failure policy (``$SYNTHMARK_ON_FAILURE``), as written there.
    on_failure: str | None = None
    #: ``entropy(n)`` gives ``n`` secret random bytes, for new keys.
    entropy: Callable[[int], bytes] = field(
        default=secrets.token_bytes, repr=False, compare=False
    )

    @classmethod
    def from_env(
        cls,
        home: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from an explicit ``home``, else ``$SYNTHMARK_HOME``, else the default,
        and every other field from its variable (see :data:`ENVIRONMENT`); ``environ``
        defaults to the process's environment. An empty variable counts as unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name) or None

        chosen = home or get(HOME_ENV)
        pretrained = get(PRETRAINED_ENV)
        regen = get(REGEN_ENV)
        return cls(
            home=Path(chosen).expanduser() if chosen else default_home(env),
            registry_url=get(REGISTRY_ENV),
            watermark_key_file=get(WATERMARK_KEY_ENV),
            c2pa_cert=get(C2PA_CERT_ENV),
            c2pa_key=get(C2PA_KEY_ENV),
            tsa_url=get(C2PA_TSA_ENV),
            provider=get(PROVIDER_ENV),
            api_token=get(API_TOKEN_ENV),
            pretrained_dir=Path(pretrained).expanduser() if pretrained else None,
            offline=(get(OFFLINE_ENV) or "").strip().lower() in ("1", "true", "yes", "on"),
            regen_weights=Path(regen).expanduser() if regen else None,
            on_failure=get(FAILURE_ENV),
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


__all__ = [
    "API_TOKEN_ENV",
    "C2PA_CERT_ENV",
    "C2PA_KEY_ENV",
    "C2PA_TSA_ENV",
    "ENVIRONMENT",
    "FAILURE_ENV",
    "HOME_ENV",
    "MODEL_ENV",
    "OFFLINE_ENV",
    "PRETRAINED_ENV",
    "PROVIDER_ENV",
    "REGEN_ENV",
    "REGISTRY_ENV",
    "WATERMARK_KEY_ENV",
    "Settings",
    "default_home",
]
