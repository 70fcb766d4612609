"""The answers of the C2PA Soft Binding Resolution API, over the registry's manifest repository.

* by binding: ``alg`` must be ours (:data:`~synthmark.labels.soft_binding.SOFT_BINDING_ALG`),
  ``value`` the base64 of the watermark payload; the payload is the serial, the serial's
  committed record names the manifest;
* by content: the uploaded image's watermark is read with the service's key, then as by
  binding (a hint binding is tried when the mark does not read);
* a manifest by id: the kept store, whole or with the active manifest only.

The HTTP routes are in :mod:`synthmark.serve.resolution`; this module holds no HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthmark.errors import KeyMissing, SynthmarkError, UsageError
from synthmark.imaging import ImageLimits, load_image
from synthmark.labels.jumbf import active_manifest_only
from synthmark.labels.soft_binding import SOFT_BINDING_ALG, check_alg, parse_binding_value
from synthmark.registry.manifests import check_manifest_id

if TYPE_CHECKING:
    from synthmark.registry import Registry
    from synthmark.watermark import WatermarkScheme

#: The strength of a match found through an exact watermark payload (0-100 in the API).
EXACT_MATCH_SCORE = 100


class ManifestNotFound(SynthmarkError):
    """No kept manifest has that id."""


class ManifestResolver:
    """Finds kept manifests by soft binding, by content and by id."""

    def __init__(
        self,
        registry: Registry,
        watermark_key: bytes | None,
        limits: ImageLimits | None = None,
    ) -> None:
        self.registry = registry
        self.watermark_key = watermark_key
        self.limits = limits or ImageLimits()
        self._marker: WatermarkScheme | None = None

    @staticmethod
    def supported_algorithms() -> dict[str, list[dict[str, str]]]:
        """The soft binding algorithms this repository resolves."""
        return {"watermarks": [{"alg": SOFT_BINDING_ALG}], "fingerprints": []}

    def _matches(self, payload: bytes, max_results: int) -> list[dict[str, Any]]:
        manifest_id = self.registry.manifest_id_for_serial(int.from_bytes(payload, "big"))
        if manifest_id is None:
            return []
        return [{"manifestId": manifest_id, "similarityScore": EXACT_MATCH_SCORE}][:max_results]

    def by_binding(self, alg: str, value: str, max_results: int = 10) -> list[dict[str, Any]]:
        """Manifests whose soft binding is ``alg`` + ``value``.

        Raises:
            UsageError: an algorithm not ours, or a value that is not one of ours.
        """
        check_alg(alg)
        return self._matches(parse_binding_value(value), _check_max(max_results))

    def by_content(
        self,
        data: bytes,
        *,
        alg: str | None = None,
        max_results: int = 10,
        hint_alg: str | None = None,
        hint_value: str | None = None,
    ) -> list[dict[str, Any]]:
        """Manifests of the picture in ``data``, found through its watermark.

        Raises:
            UsageError: an algorithm not ours, or a bad hint.
            UnsupportedImage: ``data`` is not an image that can be decoded.
            KeyMissing: the service has no watermark key to read the mark with.
        """
        if alg is not None:
            check_alg(alg)
        max_results = _check_max(max_results)
        if (hint_alg is None) != (hint_value is None):
            raise UsageError("give both hintAlg and hintValue, or neither")
        if self.watermark_key is None:
            raise KeyMissing("this service has no watermark key, so it cannot read marks; "
                             "resolve by binding instead")
        image = load_image(data, self.limits).image
        if self._marker is None:
            from synthmark.watermark import get_scheme

            self._marker = get_scheme("synthmark", key=self.watermark_key)
        readout = self._marker.extract(image)
        if readout.present and readout.payload:
            return self._matches(readout.payload, max_results)
        if hint_alg is not None and hint_value is not None:
            return self.by_binding(hint_alg, hint_value, max_results)
        return []

    def manifest(self, manifest_id: str, active_only: bool = False) -> bytes:
        """The kept manifest store whose active manifest is ``manifest_id``.

        Raises:
            UsageError: a malformed id.
            ManifestNotFound: no kept manifest has that id.
        """
        store = self.registry.manifest_store(check_manifest_id(manifest_id))
        if store is None:
            raise ManifestNotFound(f"no manifest {manifest_id} in this repository")
        return active_manifest_only(store, manifest_id) if active_only else store


def _check_max(max_results: int) -> int:
    if max_results < 1:
        raise UsageError(f"maxResults must be at least 1, got {max_results}")
    return max_results


__all__ = ["EXACT_MATCH_SCORE", "ManifestNotFound", "ManifestResolver"]
