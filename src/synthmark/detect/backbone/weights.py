"""Pretrained weight files: pinned by address and sha256, found in a fixed order.

Where a pinned file comes from, in order (:func:`resolve_weights`):

1. the cache in synthmark's home folder (``<home>/cache/weights/<path>``);
2. ``$SYNTHMARK_MODELS/<path>``, a folder laid out like the project's ``shared/models``
   (tests, CI and offline machines point it there);
3. a download from the pinned public address, unless offline (``HF_HUB_OFFLINE=1``),
   checked against the sha256 *before* it is written into the cache.

A file whose sha256 is not the pinned one (damaged, truncated, another model, a pickle) is
refused with the reason and never used. With no file anywhere, :class:`ModelNotFound` says
in one line which file is missing and how to get it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthmark.errors import ModelNotFound
from synthmark.imaging import atomic_write

if TYPE_CHECKING:
    from synthmark.settings import Settings

_CORAL = "https://github.com/google-coral/test_data/raw/104342d2d3480b3e66203073dac24f4e2dbb4c41"


@dataclass(frozen=True)
class PinnedFile:
    """A public weight file: where it lives under a models folder, its address and digest."""

    path: str
    url: str
    sha256: str
    size: int
    licence: str

    @property
    def filename(self) -> str:
        """The file's name (last part of :attr:`path`)."""
        return self.path.rsplit("/", 1)[-1]


#: ImageNet MobileNetV2 1.0 224, TF2 int8 per-channel post-training quantisation
#: (google-coral/test_data, Apache-2.0): the detector's backbone.
MOBILENET_V2 = PinnedFile(
    path="imagenet_mobilenet/tf2_mobilenet_v2_1.0_224_ptq.tflite",
    url=f"{_CORAL}/tf2_mobilenet_v2_1.0_224_ptq.tflite",
    sha256="5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c",
    size=4_070_174,
    licence="Apache-2.0 (google-coral/test_data)",
)
#: The same network from TF1, uint8 per-tensor quantisation.
MOBILENET_V2_UINT8 = PinnedFile(
    path="imagenet_mobilenet/mobilenet_v2_1.0_224_quant.tflite",
    url=f"{_CORAL}/mobilenet_v2_1.0_224_quant.tflite",
    sha256="7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    size=3_610_798,
    licence="Apache-2.0 (google-coral/test_data)",
)
PINNED = {p.filename: p for p in (MOBILENET_V2, MOBILENET_V2_UINT8)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _what_it_is(data: bytes) -> str:
    if data[:1] == b"\x80" or data[:4] == b"PK\x03\x04":
        return "it looks like a pickle or a zip archive, which is never loaded"
    if data[4:8] == b"TFL3":
        return "it is a TFLite file, but another one"
    if not data:
        return "it is empty"
    return f"it is {len(data):,} bytes that are not the pinned file"


def check_pinned(data: bytes, pinned: PinnedFile, where: str) -> bytes:
    """``data`` if its sha256 is the pinned one; otherwise :class:`ModelNotFound` saying why."""
    digest = _sha256(data)
    if digest != pinned.sha256:
        raise ModelNotFound(
            f"{where}: sha256 {digest[:16]}... is not the pinned {pinned.sha256[:16]}... of "
            f"{pinned.filename} ({_what_it_is(data)}); delete it, or replace it with the file "
            f"from {pinned.url}"
        )
    return data


def missing_message(pinned: PinnedFile) -> str:
    """The one line that says a pinned file is missing and how to get it."""
    return (
        f"backbone weights {pinned.filename} not found: set SYNTHMARK_MODELS to a folder "
        f"holding {pinned.path}, or run once online to download it from {pinned.url} "
        f"(sha256 {pinned.sha256[:16]}...)"
    )


def download(pinned: PinnedFile, url: str | None = None, timeout: float = 60.0) -> bytes:
    """The pinned file's bytes from ``url`` (default: its public address), sha256-checked.

    Reads at most a few bytes more than the pinned size, so a wrong address cannot fill
    memory. Raises :class:`ModelNotFound` on a network error or a wrong digest.
    """
    import urllib.error
    import urllib.request

    address = url or pinned.url
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:  # noqa: S310
            data = response.read(pinned.size + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelNotFound(f"{missing_message(pinned)}; the download failed ({reason})") from None
    return check_pinned(data, pinned, f"download from {address}")


def resolve_weights(
    pinned: PinnedFile, settings: Settings, url: str | None = None
) -> tuple[bytes, str]:
    """The checked bytes of ``pinned`` and where they came from (see the module docstring).

    ``url`` replaces the public address (a mirror, or a local server in tests).
    """
    cached = settings.weights_cache / pinned.path
    candidates = [cached]
    if settings.pretrained_dir is not None:
        candidates.append(settings.pretrained_dir / pinned.path)
    for path in candidates:
        if path.is_file():
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ModelNotFound(f"{path}: cannot read ({exc.strerror})") from None
            return check_pinned(data, pinned, str(path)), str(path)
    if settings.offline:
        raise ModelNotFound(f"{missing_message(pinned)} (offline: HF_HUB_OFFLINE is set)")
    data = download(pinned, url)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(cached, data)
    return data, str(cached)


__all__ = [
    "MOBILENET_V2",
    "MOBILENET_V2_UINT8",
    "PINNED",
    "PinnedFile",
    "check_pinned",
    "download",
    "missing_message",
    "resolve_weights",
]
