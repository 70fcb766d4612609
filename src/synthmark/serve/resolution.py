"""The C2PA Soft Binding Resolution API: recover a manifest from a watermark, over HTTP.

Routes follow the public OpenAPI description of the API in the C2PA specifications ("Soft
Binding Resolution API"), whose server URL ends in ``/v1``; here the base URL is
``http://HOST:PORT/v1``:

* ``GET /v1/matches/byBinding?alg=&value=[&maxResults=]`` (and ``POST`` with a JSON body
  ``{"alg", "value"}`` for values too long for a URL);
* ``POST /v1/matches/byContent[?alg=&maxResults=&hintAlg=&hintValue=]`` with the image as
  the raw body (``image/*``): the watermark is read with the service's key;
* ``GET /v1/manifests/{manifestId}[?returnActiveManifest=true]``: the manifest store as
  ``application/c2pa``;
* ``GET /v1/services/supportedAlgorithms``.

Authentication, size and time limits and the error shape are those of ``POST /v1/screen``:
a bearer token when one is configured, ``{"error": ...}`` with 400 (bad ``alg``, value or
parameter), 401, 404 (unknown manifest id), 413, 415 (not an image), 503 and 504.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from synthmark.errors import ImageTooLarge, KeyMissing, UnsupportedImage, UsageError
from synthmark.labelling.resolve import ManifestNotFound, ManifestResolver
from synthmark.serve.body import TooLarge, read_body
from synthmark.serve.guard import Guard
from synthmark.serve.slots import Busy, TimedOut

C2PA_MEDIA_TYPE = "application/c2pa"
#: Upload media types byContent accepts (the description's ``image/*``; a body without a
#: type, or ``application/octet-stream``, is sniffed).
_IMAGE_TYPES = ("image/", "application/octet-stream")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad alg, value or parameter"},
    401: {"description": "missing or wrong bearer token"},
    503: {"description": "too busy"},
    504: {"description": "time limit hit"},
}


class Match(BaseModel):
    """One matching manifest (``c2pa.softBindingQueryResult`` item)."""

    manifestId: str = Field(description="Identifier of the matched C2PA Manifest")
    endpoint: str | None = Field(None, description="Resolution API to fetch it from (absent: "
                                 "this one)")
    similarityScore: int | None = Field(None, ge=0, le=100)


class SoftBindingQueryResult(BaseModel):
    """``c2pa.softBindingQueryResult``."""

    matches: list[Match]


class SoftBindingQuery(BaseModel):
    """``c2pa.softBindingQuery``: a soft binding too long for a URL."""

    alg: str
    value: str = Field(description="Base64 of the soft binding value")


class Alg(BaseModel):
    alg: str


class SoftBindingAlgList(BaseModel):
    """``c2pa.softBindingAlgList``."""

    watermarks: list[Alg]
    fingerprints: list[Alg]


_MAX_RESULTS = Query(10, alias="maxResults", ge=1, description="Most identifiers returned")


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class _Routes:
    """The API's handlers, over one resolver and the service's shared guards."""

    def __init__(self, resolver: ManifestResolver, guard: Guard) -> None:
        self.resolver = resolver
        self.guard = guard
        self.config = guard.config

    async def answer(self, request: Request, work: Callable[[], Any]) -> Any:
        """Authorise, run ``work`` in a slot, and turn its errors into the API's answers."""
        denied = self.guard.denied(request)
        if denied is not None:
            return denied
        try:
            return await self.guard.slots.run(work)
        except Busy:
            return self.guard.busy()
        except TimedOut:
            late = f"the request took longer than {self.config.timeout_s:g} s"
            return self.guard.timed_out({"error": late})
        except ImageTooLarge as exc:
            return _error(413, str(exc))
        except UnsupportedImage as exc:
            return _error(415, f"not an image synthmark can read: {exc}")
        except UsageError as exc:
            return _error(400, str(exc))
        except ManifestNotFound as exc:
            return _error(404, str(exc))
        except KeyMissing as exc:
            return _error(503, str(exc))

    async def matches(self, request: Request, work: Callable[[], Any]) -> Any:
        found = await self.answer(request, work)
        return found if isinstance(found, Response) else {"matches": found}

    async def by_binding(
        self,
        request: Request,
        value: str = Query(description="Base64 of the soft binding value"),
        alg: str = Query(description="Soft binding algorithm, e.g. org.synthmark.watermark.1"),
        limit: int = _MAX_RESULTS,
    ) -> Any:
        return await self.matches(request, lambda: self.resolver.by_binding(alg, value, limit))

    async def by_large_binding(
        self, request: Request, query: SoftBindingQuery, limit: int = _MAX_RESULTS
    ) -> Any:
        return await self.matches(
            request, lambda: self.resolver.by_binding(query.alg, query.value, limit)
        )

    async def by_content(
        self,
        request: Request,
        alg: str | None = Query(None),
        limit: int = _MAX_RESULTS,
        hint_alg: str | None = Query(None, alias="hintAlg"),
        hint_value: str | None = Query(None, alias="hintValue"),
    ) -> Any:
        kind = request.headers.get("content-type", "").lower()
        if kind and not kind.startswith(_IMAGE_TYPES):
            return _error(415, f"upload the image as the raw body (image/*), not {kind}")
        try:
            data = await read_body(request, self.config.max_bytes)
        except TooLarge:
            return _error(413, f"upload is over the limit of {self.config.max_bytes:,} bytes")
        if not data:
            return _error(400, "empty upload (0 bytes)")
        return await self.matches(request, lambda: self.resolver.by_content(
            data, alg=alg, max_results=limit, hint_alg=hint_alg, hint_value=hint_value))

    async def manifest(
        self,
        request: Request,
        manifestId: str,  # the description's name for the path parameter
        return_active: bool = Query(False, alias="returnActiveManifest"),
    ) -> Any:
        found = await self.answer(request, lambda: self.resolver.manifest(manifestId,
                                                                          return_active))
        return found if isinstance(found, Response) else Response(found, media_type=C2PA_MEDIA_TYPE)

    async def algorithms(self, request: Request) -> Any:
        return await self.answer(request, self.resolver.supported_algorithms)


async def _bad_parameter(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                      for e in errors)
    return _error(400, f"invalid request ({where or exc})")


def add_resolution(app: FastAPI, resolver: ManifestResolver, guard: Guard) -> None:
    """Add the Soft Binding Resolution API's routes to ``app`` (see the module docstring),
    behind the service's ``guard`` (token, slots, counters)."""
    routes = _Routes(resolver, guard)
    app.add_exception_handler(RequestValidationError, _bad_parameter)
    found: dict[str, Any] = {
        "response_model": SoftBindingQueryResult, "response_model_exclude_none": True
    }
    app.add_api_route(
        "/v1/matches/byBinding", routes.by_binding, methods=["GET"],
        operation_id="queryByBinding", tags=["query"], responses=_ERRORS,
        summary="C2PA Manifest identifiers corresponding to a soft binding", **found,
    )
    app.add_api_route(
        "/v1/matches/byBinding", routes.by_large_binding, methods=["POST"],
        operation_id="queryByLargeBinding", tags=["query"], responses=_ERRORS,
        summary="C2PA Manifest identifiers corresponding to a large soft binding value", **found,
    )
    app.add_api_route(
        "/v1/matches/byContent", routes.by_content, methods=["POST"], operation_id="uploadFile",
        tags=["query"], summary="C2PA Manifest identifiers of an uploaded image, through its "
        "watermark", openapi_extra={"requestBody": {"required": True, "content": {
            "image/*": {"schema": {"type": "string", "format": "binary"}}}}},
        responses={**_ERRORS, 413: {"description": "upload over the size limit"},
                   415: {"description": "not an image"}}, **found,
    )
    app.add_api_route(
        "/v1/manifests/{manifestId}", routes.manifest, methods=["GET"],
        operation_id="getManifestById", tags=["fetch"], response_class=Response,
        summary="A full C2PA Manifest Store, or its active manifest only",
        responses={200: {"content": {C2PA_MEDIA_TYPE: {}}},
                   404: {"description": "no such manifest"}, **_ERRORS},
    )
    app.add_api_route(
        "/v1/services/supportedAlgorithms", routes.algorithms, methods=["GET"],
        operation_id="getSupportedBindings", tags=["service"], response_model=SoftBindingAlgList,
        summary="The soft binding algorithms this service resolves", responses=_ERRORS,
    )


__all__ = ["C2PA_MEDIA_TYPE", "ManifestResolver", "add_resolution"]
