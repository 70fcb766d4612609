"""The watermark key: 32 random bytes in a 0600 file under the home folder.

The key decides every keyed choice of the ``synthmark`` scheme (which lines carry the sync
and which the payload, their phases, the interleaver). Without it the mark can be neither
written nor read, and with another key an image reads ``absent``.

>>> from synthmark.settings import WATERMARK_KEY_ENV, Settings
>>> key = create_key(Settings.from_env())            # doctest: +SKIP
>>> load_key(Settings.from_env()) == key             # doctest: +SKIP
True

``SYNTHMARK_WATERMARK_KEY`` (a path to a key file) overrides the default location. The key
is never printed or logged; only its fingerprint (:func:`key_id`) is.

**Rotation: one key writes, several read.** :func:`rotate_key` moves the home folder's key
to ``keys_dir/watermark-retired/<key id>.key`` and writes a new one; new marks use the new
key, and readers (:func:`retired_keys`, ``read_all(..., retired=...)``) still try the
retired ones, so older marks keep reading. Every key read is one more chance of a false
positive: a read with ``K`` keys reports ``K`` times the single-key p-value.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from synthmark.errors import KeyMissing, UsageError
from synthmark.settings import WATERMARK_KEY_ENV, Settings

__all__ = [
    "KEY_BYTES",
    "KEY_ENV",
    "KEY_FILE",
    "NO_KEY_NOTE",
    "NO_KEY_WARNING",
    "RETIRED_DIR",
    "create_key",
    "find_key",
    "key_id",
    "key_path",
    "load_key",
    "retired_keys",
    "rotate_key",
]

#: Environment variable naming a key file to use instead of the default one (read by
#: :meth:`Settings.from_env` into :attr:`Settings.watermark_key_file`).
KEY_ENV = WATERMARK_KEY_ENV
#: File name of the key under :attr:`Settings.keys_dir`.
KEY_FILE = "watermark.key"
#: Folder under :attr:`Settings.keys_dir` of retired keys, which read but no longer write.
RETIRED_DIR = "watermark-retired"
#: Length of a new key.
KEY_BYTES = 32
_HEADER = "synthmark-watermark-key-v1"
#: What a reader that runs without a key notes about synthmark's own mark.
NO_KEY_NOTE = "synthmark watermark not checked: no key"
#: The same, with the fix, for a person.
NO_KEY_WARNING = (
    f"{NO_KEY_NOTE} (create one with `synthmark keys init` or point {KEY_ENV} "
    "at a key file)"
)


def key_path(settings: Settings, path: str | os.PathLike[str] | None = None) -> Path:
    """Where the key lives: ``path``, else ``settings.watermark_key_file``
    (``$SYNTHMARK_WATERMARK_KEY``), else ``keys_dir/watermark.key``."""
    if path is not None:
        return Path(path).expanduser()
    override = settings.watermark_key_file
    if override:
        return Path(override).expanduser()
    return settings.keys_dir / KEY_FILE


def key_id(key: bytes) -> str:
    """A short, non-secret fingerprint of a key (for logs, reports and registry records)."""
    return hashlib.sha256(b"synthmark-key-id" + key).hexdigest()[:16]


def create_key(
    settings: Settings, force: bool = False, path: str | os.PathLike[str] | None = None
) -> bytes:
    """Create a new random key, write it with mode 0600 and return it.

    Raises:
        UsageError: a key already exists there and ``force`` is false (replacing a key
            makes every image marked with the old one unreadable).
    """
    path = key_path(settings, path)
    if path.exists() and not force:
        raise UsageError(
            f"a watermark key already exists at {path}; replacing it makes images marked "
            "with it unreadable. To replace it anyway, pass --force (force=True in Python)"
        )
    if path.parent == settings.keys_dir:
        settings.ensure_private_dir(settings.keys_dir)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    _write_key(path, key)
    return key


def _write_key(path: Path, key: bytes) -> None:
    """Write ``key`` to ``path`` atomically, mode 0600."""
    text = f"{_HEADER}\n{key.hex()}\n".encode("ascii")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def rotate_key(settings: Settings) -> bytes:
    """Retire the home folder's key (it keeps reading, see :func:`retired_keys`) and
    write a new one, which marks from now on. Returns the new key.

    Raises:
        KeyMissing: there is no key to rotate (create one with ``keygen``).
        UsageError: ``$SYNTHMARK_WATERMARK_KEY`` names another key file: rotation works on
            the home folder's key only.
    """
    if settings.watermark_key_file:
        raise UsageError(
            f"{KEY_ENV} names a key file; rotation works on the home folder's key only "
            f"(unset {KEY_ENV} to rotate {settings.keys_dir / KEY_FILE})"
        )
    old = load_key(settings)
    retired = settings.ensure_private_dir(settings.keys_dir / RETIRED_DIR)
    target = retired / f"{key_id(old)}.key"
    if not target.exists():
        _write_key(target, old)
    return create_key(settings, force=True)


def retired_keys(settings: Settings) -> list[bytes]:
    """The home folder's retired keys, newest first (an unreadable file is skipped: it is
    not a key this folder wrote)."""
    folder = settings.keys_dir / RETIRED_DIR
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.key"), key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for path in files:
        try:
            out.append(load_key(settings, path))
        except KeyMissing:
            continue
    return out


def load_key(settings: Settings, path: str | os.PathLike[str] | None = None) -> bytes:
    """Read the key.

    Raises:
        KeyMissing: there is no key file (run ``synthmark watermark keygen``), or it is not
            a synthmark key.
    """
    path = key_path(settings, path)
    try:
        text = path.read_text("ascii")
    except FileNotFoundError:
        raise KeyMissing(
            f"no watermark key at {path}; create one with `synthmark watermark keygen` "
            f"or point {KEY_ENV} at an existing key file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyMissing(
            f"cannot read the watermark key at {path} ({exc.__class__.__name__})"
        ) from None
    lines = text.split()
    if len(lines) != 2 or lines[0] != _HEADER:
        raise KeyMissing(f"{path} is not a synthmark watermark key file")
    try:
        key = bytes.fromhex(lines[1])
    except ValueError:
        raise KeyMissing(f"{path} is not a synthmark watermark key file") from None
    if len(key) < 16:
        raise KeyMissing(f"the watermark key at {path} is too short ({len(key)} bytes)")
    return key


def find_key(settings: Settings, path: str | os.PathLike[str] | None = None) -> bytes | None:
    """The key when one is configured, ``None`` when none is.

    A key is configured when ``path`` is given, ``settings.watermark_key_file``
    (``$SYNTHMARK_WATERMARK_KEY``) is set, or the
    default ``keys_dir/watermark.key`` exists. Only in the last case may it be absent: a key
    the user named is never skipped silently.

    Raises:
        KeyMissing: a configured key file is missing, unreadable or not a synthmark key.
    """
    default = settings.keys_dir / KEY_FILE
    explicit = path is not None or bool(settings.watermark_key_file)
    if not explicit and not (default.exists() or default.is_symlink()):
        return None
    return load_key(settings, path)
