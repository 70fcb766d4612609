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
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from synthmark.errors import ImageTooLarge, KeyMissing, UnsupportedImage, UsageError
from synthmark.labelling.resolve import ManifestNotFound, ManifestResolver
from synthmark.serve.body import TooLarge, read_body
from synthmark.serve.slots import Busy, Slots, TimedOut

if TYPE_CHECKING:
    from synthmark.serve.app import ServeConfig

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


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def add_resolution(
    app: FastAPI,
    resolver: ManifestResolver,
    *,
    authorised: Callable[[Request], bool],
    slots: Slots,
    config: ServeConfig,
    counters: dict[str, int],
) -> None:
    """Add the Soft Binding Resolution API's routes to ``app`` (see the module docstring)."""

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _error(400, f"invalid request ({where})")

    async def answer(request: Request, work: Callable[[], Any]) -> Any:
        """Authorise, run ``work`` in a slot, and turn its errors into the API's answers."""
        counters["requests"] += 1
        if not authorised(request):
            return _error(401, "missing or invalid bearer token", **{"WWW-Authenticate": "Bearer"})
        try:
            return await slots.run(work)
        except Busy:
            counters["busy"] += 1
            return _error(503, "service busy, retry later", **{"Retry-After": "1"})
        except TimedOut:
            counters["errors"] += 1
            return _error(504, f"the request took longer than {config.timeout_s:g} s")
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

    def matches(found: Any) -> Any:
        return found if isinstance(found, Response) else {"matches": found}

    max_results = Query(10, alias="maxResults", ge=1, description="Most identifiers returned")

    @app.get("/v1/matches/byBinding", operation_id="queryByBinding", tags=["query"],
             summary="C2PA Manifest identifiers corresponding to a soft binding",
             response_model=SoftBindingQueryResult, response_model_exclude_none=True,
             responses=_ERRORS)
    async def query_by_binding(
        request: Request,
        value: str = Query(description="Base64 of the soft binding value"),
        alg: str = Query(description="Soft binding algorithm, e.g. org.synthmark.watermark.1"),
        limit: int = max_results,
    ) -> Any:
        return matches(await answer(request, lambda: resolver.by_binding(alg, value, limit)))

    @app.post("/v1/matches/byBinding", operation_id="queryByLargeBinding", tags=["query"],
              summary="C2PA Manifest identifiers corresponding to a large soft binding value",
              response_model=SoftBindingQueryResult, response_model_exclude_none=True,
              responses=_ERRORS)
    async def query_by_large_binding(
        request: Request, query: SoftBindingQuery, limit: int = max_results
    ) -> Any:
        return matches(
            await answer(request, lambda: resolver.by_binding(query.alg, query.value, limit))
        )

    @app.post("/v1/matches/byContent", operation_id="uploadFile", tags=["query"],
              summary="C2PA Manifest identifiers of an uploaded image, through its watermark",
              response_model=SoftBindingQueryResult, response_model_exclude_none=True,
              openapi_extra={"requestBody": {"required": True, "content": {
                  "image/*": {"schema": {"type": "string", "format": "binary"}}}}},
              responses={**_ERRORS, 413: {"description": "upload over the size limit"},
                         415: {"description": "not an image"}})
    async def query_by_content(
        request: Request,
        alg: str | None = Query(None),
        limit: int = max_results,
        hint_alg: str | None = Query(None, alias="hintAlg"),
        hint_value: str | None = Query(None, alias="hintValue"),
    ) -> Any:
        kind = request.headers.get("content-type", "").lower()
        if kind and not kind.startswith(_IMAGE_TYPES):
            return _error(415, f"upload the image as the raw body (image/*), not {kind}")
        try:
            data = await read_body(request, config.max_bytes)
        except TooLarge:
            return _error(413, f"upload is over the limit of {config.max_bytes:,} bytes")
        if not data:
            return _error(400, "empty upload (0 bytes)")
        return matches(await answer(request, lambda: resolver.by_content(
            data, alg=alg, max_results=limit, hint_alg=hint_alg, hint_value=hint_value)))

    @app.get("/v1/manifests/{manifestId}", operation_id="getManifestById", tags=["fetch"],
             summary="A full C2PA Manifest Store, or its active manifest only",
             response_class=Response,
             responses={200: {"content": {C2PA_MEDIA_TYPE: {}}},
                        404: {"description": "no such manifest"}, **_ERRORS})
    async def get_manifest_by_id(
        request: Request,
        manifestId: str,
        return_active: bool = Query(False, alias="returnActiveManifest"),
    ) -> Any:
        found = await answer(request, lambda: resolver.manifest(manifestId, return_active))
        if isinstance(found, Response):
            return found
        return Response(found, media_type=C2PA_MEDIA_TYPE)

    @app.get("/v1/services/supportedAlgorithms", operation_id="getSupportedBindings",
             tags=["service"], summary="The soft binding algorithms this service resolves",
             response_model=SoftBindingAlgList, responses=_ERRORS)
    async def supported_algorithms(request: Request) -> Any:
        return await answer(request, resolver.supported_algorithms)


__all__ = ["C2PA_MEDIA_TYPE", "ManifestResolver", "add_resolution"]
