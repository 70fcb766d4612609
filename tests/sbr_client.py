"""A client of the C2PA Soft Binding Resolution API, written from the public OpenAPI
description alone (C2PA specifications, "Soft Binding API", section 1.4.2): standard library
only, no synthmark import. It proves that a repository speaking the described API can be used
by anyone who has read the description and never seen the server's code.

The description's operations used here::

    GET  {base}/services/supportedAlgorithms          -> c2pa.softBindingAlgList
    GET  {base}/matches/byBinding?alg=&value=         -> c2pa.softBindingQueryResult
    POST {base}/matches/byContent   (body: image/*)    -> c2pa.softBindingQueryResult
    GET  {base}/manifests/{manifestId}                 -> application/c2pa

``base`` is the server URL, which in the description ends in ``/v1``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ResolutionError(Exception):
    """The service answered with an error status."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class SoftBindingClient:
    """``SoftBindingClient("https://repo.example/v1", token="...")``."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(
        self, method: str, path: str, query: dict[str, str] | None = None,
        body: bytes | None = None, content_type: str | None = None,
    ) -> tuple[bytes, str]:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, data=body, method=method)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise ResolutionError(exc.code, exc.read()) from None

    def supported_algorithms(self) -> dict[str, Any]:
        """``getSupportedBindings``: {"watermarks": [{"alg"}], "fingerprints": [{"alg"}]}."""
        body, _ = self._call("GET", "/services/supportedAlgorithms")
        result: dict[str, Any] = json.loads(body)
        return result

    def query_by_binding(self, alg: str, value: str, max_results: int = 10) -> list[str]:
        """``queryByBinding``: the manifest identifiers matching a soft binding (``value`` is
        base64, as the description says)."""
        body, _ = self._call(
            "GET", "/matches/byBinding",
            {"alg": alg, "value": value, "maxResults": str(max_results)},
        )
        return [m["manifestId"] for m in json.loads(body).get("matches", [])]

    def query_by_content(self, asset: bytes, media_type: str = "image/jpeg") -> list[str]:
        """``uploadFile``: the manifest identifiers of an asset sent as the raw body."""
        body, _ = self._call("POST", "/matches/byContent", body=asset, content_type=media_type)
        return [m["manifestId"] for m in json.loads(body).get("matches", [])]

    def get_manifest(self, manifest_id: str, active_only: bool = False) -> bytes:
        """``getManifestById``: the C2PA Manifest Store (``application/c2pa``)."""
        query = {"returnActiveManifest": "true"} if active_only else None
        body, content_type = self._call(
            "GET", "/manifests/" + urllib.parse.quote(manifest_id, safe=""), query
        )
        if not content_type.startswith("application/c2pa"):
            raise ResolutionError(200, b"not a manifest store: " + content_type.encode())
        return body
