"""C2PA Content Credentials through c2pa-python: a reader for any manifest store.

What synthmark signs is in :mod:`synthmark.labels.c2pa_sign`.

Reading never touches the network (no remote manifests, no OCSP) and reports, for the
whole ingredient chain, the digital source types: a picture made by an image generator
and then converted still declares trainedAlgorithmicMedia, though its active manifest
only says "converted". A manifest that fails validation is ``Invalid``, never absent.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from synthmark.labels.containers import has_c2pa_store
from synthmark.labels.soft_binding import soft_bindings_of
from synthmark.labels.sourcetypes import declares_ai, short_name

WATERMARK_ASSERTION = "org.synthmark.watermark"
GENERATION_ASSERTION = "org.synthmark.generation"

#: Reading and signing stay offline.
OFFLINE_VERIFY = {"remote_manifest_fetch": False, "ocsp_fetch": False}

_REMOTE_URL = re.compile(r"remote manifests? from url (\S+)", re.IGNORECASE)


@dataclass
class C2paStatus:
    """One validation status code, as c2pa reports it."""

    code: str
    kind: str
    scope: str
    explanation: str | None = None
    url: str | None = None


@dataclass
class C2paAction:
    """One action of a manifest's ``c2pa.actions`` assertion."""

    action: str
    manifest: str
    digital_source_type: str | None = None
    software_agent: str | None = None
    when: str | None = None
    description: str | None = None


@dataclass
class C2paManifestSummary:
    """One manifest of the chain: the active one first, then its ingredients' manifests."""

    label: str
    title: str | None
    format: str | None
    claim_generator: str | None
    signer: str | None
    signed_at: str | None
    actions: list[C2paAction] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    ingredients: list[str] = field(default_factory=list)


@dataclass
class C2paReport:
    """What a file's C2PA manifest store says, and whether it validates.

    ``present`` is True whenever the file carries a manifest, valid or not;
    ``validation_state`` is c2pa's verdict (``Trusted``, ``Valid`` or ``Invalid``) and None
    when there is no manifest or it could not be read at all. ``digital_source_types``
    covers the whole ingredient chain.
    """

    present: bool = False
    validation_state: str | None = None
    claim_generator: str | None = None
    digital_source_types: list[str] = field(default_factory=list)
    actions: list[C2paAction] = field(default_factory=list)
    manifest_id: str | None = None
    title: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    validation_codes: list[C2paStatus] = field(default_factory=list)
    manifests: list[C2paManifestSummary] = field(default_factory=list)
    watermark: dict[str, Any] | None = None
    soft_bindings: list[dict[str, str]] = field(default_factory=list)
    remote_url: str | None = None
    #: True when the file carried no manifest (``present`` is False) and this one came from
    #: a manifest repository (:mod:`synthmark.labels.recovery`); ``recovered_via`` says how,
    #: ``hard_binding`` whether the manifest's hash of the signed file matches these bytes
    #: (``mismatch`` for any re-encoded copy) and ``signature_state`` what the signature
    #: and the rest of the manifest validate to without that hash.
    recovered: bool = False
    recovered_via: str | None = None
    hard_binding: str | None = None
    signature_state: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failure_codes(self) -> list[str]:
        """The codes of failed checks, active manifest and ingredients."""
        return [s.code for s in self.validation_codes if s.kind == "failure"]


def offline_settings(trust_anchors: bytes | str | None = None, **extra: Any) -> dict[str, Any]:
    """c2pa settings: no network, and ``trust_anchors`` (PEM) added as user anchors."""
    settings: dict[str, Any] = {"verify": dict(OFFLINE_VERIFY)}
    if trust_anchors:
        pem = trust_anchors.decode("ascii") if isinstance(trust_anchors, bytes) else trust_anchors
        settings["trust"] = {"user_anchors": pem}
    for key, value in extra.items():
        settings.setdefault(key, {}).update(value)
    return settings


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _agent(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("name"):
        version = value.get("version")
        return f"{value['name']} {version}" if version else str(value["name"])
    return None


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    infos = manifest.get("claim_generator_info")
    if isinstance(infos, list) and infos:
        parts = []
        for info in infos:
            if isinstance(info, dict) and info.get("name"):
                version = info.get("version")
                parts.append(f"{info['name']}/{version}" if version else str(info["name"]))
        if parts:
            return " ".join(parts)
    generator = manifest.get("claim_generator")
    return generator if isinstance(generator, str) else None


def _summarise(label: str, manifest: dict[str, Any]) -> C2paManifestSummary:
    sig = manifest.get("signature_info") or {}
    signer = None
    if isinstance(sig, dict) and (sig.get("common_name") or sig.get("issuer")):
        signer = " / ".join(str(sig[k]) for k in ("common_name", "issuer") if sig.get(k))
    summary = C2paManifestSummary(
        label=label,
        title=manifest.get("title"),
        format=manifest.get("format"),
        claim_generator=_claim_generator(manifest),
        signer=signer,
        signed_at=sig.get("time") if isinstance(sig, dict) else None,
    )
    types: list[str] = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        name = str(assertion.get("label", ""))
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        if not isinstance(data, dict):
            continue
        if name.startswith("c2pa.actions"):
            for key in ("actions", "templates"):
                for item in data.get(key) or []:
                    if not isinstance(item, dict):
                        continue
                    dst = item.get("digitalSourceType")
                    if isinstance(dst, str):
                        types.append(dst)
                    if key == "actions":
                        summary.actions.append(
                            C2paAction(
                                action=str(item.get("action", "")),
                                manifest=label,
                                digital_source_type=dst if isinstance(dst, str) else None,
                                software_agent=_agent(item.get("softwareAgent")),
                                when=_text(item.get("when")),
                                description=_text(item.get("description")),
                            )
                        )
        elif name.startswith("stds.iptc"):
            dst = data.get("Iptc4xmpExt:DigitalSourceType")
            if isinstance(dst, str):
                types.append(dst)
    summary.digital_source_types = list(dict.fromkeys(types))
    for ingredient in manifest.get("ingredients") or []:
        if isinstance(ingredient, dict) and isinstance(ingredient.get("active_manifest"), str):
            summary.ingredients.append(ingredient["active_manifest"])
    return summary


def _statuses(store: dict[str, Any]) -> list[C2paStatus]:
    out: list[C2paStatus] = []
    results = store.get("validation_results")
    if isinstance(results, dict):
        groups: list[tuple[str, Any]] = [("active", results.get("activeManifest"))]
        for delta in results.get("ingredientDeltas") or []:
            if isinstance(delta, dict):
                groups.append(("ingredient", delta.get("validationDeltas")))
        for scope, group in groups:
            if not isinstance(group, dict):
                continue
            for kind in ("failure", "informational"):
                for item in group.get(kind) or []:
                    if isinstance(item, dict) and item.get("code"):
                        out.append(
                            C2paStatus(
                                code=str(item["code"]),
                                kind=kind,
                                scope=scope,
                                explanation=item.get("explanation"),
                                url=item.get("url"),
                            )
                        )
        return out
    for item in store.get("validation_status") or []:
        if isinstance(item, dict) and item.get("code"):
            out.append(
                C2paStatus(
                    code=str(item["code"]),
                    kind="failure",
                    scope="active",
                    explanation=item.get("explanation"),
                    url=item.get("url"),
                )
            )
    return out


def report_from_store(store: dict[str, Any]) -> C2paReport:
    """A :class:`C2paReport` from c2pa's manifest-store JSON (``Reader.json()``)."""
    report = C2paReport(present=True)
    state = store.get("validation_state")
    report.validation_state = state if isinstance(state, str) else None
    report.validation_codes = _statuses(store)
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    if not isinstance(manifests, dict):
        manifests = {}
    active = store.get("active_manifest")
    report.manifest_id = active if isinstance(active, str) else None
    queue = [report.manifest_id] if report.manifest_id else []
    seen: set[str] = set()
    while queue:
        label = queue.pop(0)
        if label is None or label in seen or not isinstance(manifests.get(label), dict):
            continue
        seen.add(label)
        summary = _summarise(label, manifests[label])
        report.manifests.append(summary)
        queue.extend(summary.ingredients)
    if report.manifest_id and report.manifest_id not in seen:
        report.errors.append(f"active manifest {report.manifest_id} is missing from the store")
    types = [t for m in report.manifests for t in m.digital_source_types]
    report.digital_source_types = list(dict.fromkeys(types))
    if report.manifests:
        head = report.manifests[0]
        report.claim_generator = head.claim_generator
        report.actions = head.actions
        report.title = head.title
        report.signer = head.signer
        report.signed_at = head.signed_at
        for assertion in manifests[head.label].get("assertions") or []:
            if isinstance(assertion, dict) and assertion.get("label") == WATERMARK_ASSERTION:
                data = assertion.get("data")
                report.watermark = data if isinstance(data, dict) else None
        report.soft_bindings = soft_bindings_of(manifests[head.label])
    return report


def read_c2pa(
    data: bytes,
    mime_type: str | None = None,
    trust_anchors: bytes | str | None = None,
    *,
    jumbf_seen: bool | None = None,
    manifest_data: bytes | None = None,
) -> C2paReport:
    """Read and validate the C2PA manifest store of ``data``, offline. Never raises for a
    bad file: errors go to :attr:`C2paReport.errors`.

    ``jumbf_seen`` says whether the container walker found a C2PA/JUMBF block; it decides
    ``present`` when c2pa cannot parse the store at all (then the state is ``Invalid``).
    ``manifest_data`` is a manifest store kept apart from the file (a sidecar, or one from
    a manifest repository): it is validated against ``data``.
    """
    import c2pa

    if manifest_data is not None:
        jumbf_seen = True
    elif jumbf_seen is None:
        jumbf_seen = has_c2pa_store(data)
    try:
        context = c2pa.Context.from_dict(offline_settings(trust_anchors))
        try:
            stream = io.BytesIO(data)
            reader = (
                c2pa.Reader.try_create(mime_type, stream, manifest_data, context)
                if mime_type or manifest_data is not None
                else c2pa.Reader.try_create(stream, context=context)
            )
            if reader is None:
                return C2paReport(present=False)
            try:
                store = json.loads(reader.json())
            finally:
                reader.close()
        finally:
            context.close()
    except c2pa.C2paError as exc:
        message = str(exc)
        remote = _REMOTE_URL.search(message)
        if remote:
            return C2paReport(
                present=False,
                remote_url=remote.group(1),
                errors=[
                    f"the manifest is remote ({remote.group(1)}) and was not fetched: "
                    "synthmark reads offline"
                ],
            )
        if "type is unsupported" in message.lower() and not jumbf_seen:
            return C2paReport(present=False)
        return C2paReport(
            present=jumbf_seen,
            validation_state="Invalid" if jumbf_seen else None,
            errors=[message],
        )
    except (json.JSONDecodeError, ValueError, TypeError, OSError) as exc:
        return C2paReport(
            present=jumbf_seen,
            validation_state="Invalid" if jumbf_seen else None,
            errors=[f"cannot read the manifest store: {exc}"],
        )
    if not isinstance(store, dict):
        return C2paReport(
            present=True, validation_state="Invalid", errors=["the store is not a JSON object"]
        )
    return report_from_store(store)


def declared_ai(report: C2paReport) -> list[str]:
    """Short names of the AI source types the chain declares."""
    return [short_name(t) for t in report.digital_source_types if declares_ai(t)]


__all__ = [
    "GENERATION_ASSERTION",
    "WATERMARK_ASSERTION",
    "C2paAction",
    "C2paManifestSummary",
    "C2paReport",
    "C2paStatus",
    "declared_ai",
    "offline_settings",
    "read_c2pa",
    "report_from_store",
]
