"""The C2PA manifest synthmark signs, and signing it with c2pa-python.

The manifest holds:

* ``claim_generator_info`` naming synthmark and its version;
* a ``c2pa.actions`` assertion. A new picture gets ``c2pa.created`` with the IPTC
  ``digitalSourceType`` (trainedAlgorithmicMedia, or compositeWithTrainedAlgorithmicMedia
  for an edit) and a ``softwareAgent`` naming the model. A file that came with a manifest
  of its own gets ``c2pa.opened`` instead, naming that file as its ``parentOf`` ingredient
  (its manifest goes into the store, whole). Then ``c2pa.watermarked``: our mark;
* ``c2pa.soft-binding`` naming that mark (:mod:`synthmark.labels.soft_binding`), so that a
  copy without metadata leads back to the manifest through a manifest repository;
* ``org.synthmark.watermark``: the watermark scheme and serial;
* ``org.synthmark.generation``: provider, model, time and parameters (the prompt only on
  opt-in): the latent disclosure California SB 942 asks for.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from synthmark import __version__
from synthmark.jsonutil import to_jsonable
from synthmark.labels.c2pa_manifest import GENERATION_ASSERTION, WATERMARK_ASSERTION
from synthmark.labels.request import LabelRequest
from synthmark.labels.soft_binding import soft_binding_assertion

if TYPE_CHECKING:
    import c2pa

#: The ``instance_id`` our manifest gives a parent ingredient, to name it in ``c2pa.opened``.
PARENT_ID = "parent"


@dataclass(frozen=True)
class ParentIngredient:
    """A file whose C2PA manifest the new manifest keeps, as its ``parentOf`` ingredient."""

    data: bytes = field(repr=False)
    mime_type: str
    title: str
    manifest_id: str | None = None


def _software_agent(name: str, version: str | None = None) -> dict[str, str]:
    agent = {"name": name}
    if version:
        agent["version"] = version
    return agent


def _actions(req: LabelRequest, when: str, parent: ParentIngredient | None) -> list[dict[str, Any]]:
    made = "Edited" if req.edited else "Generated"
    if parent is None:
        first: dict[str, Any] = {
            "action": "c2pa.created",
            "digitalSourceType": req.digital_source_type,
            "softwareAgent": _software_agent(req.agent, req.model_hash),
            "when": when,
            "description": f"{made} with the model {req.model_id}",
        }
    else:
        first = {
            "action": "c2pa.opened",
            "digitalSourceType": req.digital_source_type,
            "softwareAgent": _software_agent("synthmark", __version__),
            "when": when,
            "description": f"Opened {parent.title}, {made.lower()} with the model {req.model_id}",
            "parameters": {"ingredientIds": [PARENT_ID]},
        }
    actions = [first]
    if req.soft_binding_payload is not None:
        actions.append(
            {
                "action": "c2pa.watermarked",
                "softwareAgent": _software_agent("synthmark", __version__),
                "when": when,
                "description": f"Invisible {req.watermark_scheme} watermark carrying the "
                f"registry serial {req.watermark_serial}",
            }
        )
    return actions


def manifest_definition(
    req: LabelRequest, mime_type: str, parent: ParentIngredient | None = None
) -> dict[str, Any]:
    """The manifest definition c2pa's Builder signs for ``req`` (and its parent, if any)."""
    when = req.timestamp().isoformat(timespec="seconds")
    generation: dict[str, Any] = {
        "model_id": req.model_id,
        "created": when,
        "software": f"synthmark {__version__}",
        "parameters": to_jsonable(req.shared_parameters()),
    }
    if req.model_hash:
        generation["model_hash"] = req.model_hash
    if req.provider:
        generation["provider"] = req.provider
    if req.software_agent:
        generation["generator"] = req.software_agent
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions", "data": {"actions": _actions(req, when, parent)}},
        {"label": GENERATION_ASSERTION, "data": generation},
    ]
    if req.watermark_serial is not None:
        assertions.append(
            {
                "label": WATERMARK_ASSERTION,
                "data": {"scheme": req.watermark_scheme, "serial": req.watermark_serial},
            }
        )
    if req.soft_binding_payload is not None:
        assertions.append(soft_binding_assertion(req.soft_binding_payload))
    extension = mime_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return {
        "claim_generator_info": [{"name": "synthmark", "version": __version__}],
        "title": req.title or f"generated.{extension}",
        "format": mime_type,
        "assertions": assertions,
    }


def make_signer(
    cert_chain_pem: bytes, private_key_pem: bytes, alg: str, tsa_url: str | None
) -> c2pa.Signer:
    """A c2pa Signer; the key lives in native memory from here on."""
    import c2pa

    info = c2pa.C2paSignerInfo(alg.encode("ascii"), cert_chain_pem, private_key_pem, tsa_url)
    return c2pa.Signer.from_info(info)


def sign_bytes(
    data: bytes,
    mime_type: str,
    definition: dict[str, Any],
    signer: c2pa.Signer,
    context: c2pa.Context,
    parent: ParentIngredient | None = None,
    thumbnail: bytes | None = None,
) -> tuple[bytes, bytes]:
    """``data`` with a signed manifest embedded, and the manifest store's own bytes (what a
    manifest repository keeps); ``thumbnail``, a JPEG, becomes the claim thumbnail. c2pa
    raises ``C2paError`` on failure."""
    import c2pa

    if thumbnail is not None:
        ref = {"format": "image/jpeg", "identifier": "thumbnail.jpg"}
        definition = {**definition, "thumbnail": ref}
    builder = c2pa.Builder(definition, context=context)
    out = io.BytesIO()
    try:
        if thumbnail is not None:
            builder.add_resource("thumbnail.jpg", io.BytesIO(thumbnail))
        if parent is not None:
            builder.add_ingredient(
                {"title": parent.title, "relationship": "parentOf", "instance_id": PARENT_ID},
                parent.mime_type,
                io.BytesIO(parent.data),
            )
        store = builder.sign(signer, mime_type, io.BytesIO(data), out)
    finally:
        builder.close()
    return out.getvalue(), store


__all__ = [
    "PARENT_ID",
    "ParentIngredient",
    "make_signer",
    "manifest_definition",
    "sign_bytes",
]
