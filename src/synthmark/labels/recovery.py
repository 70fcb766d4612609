"""Validate a manifest store recovered for a copy that lost its own (durable Content Credentials).

A copy without metadata (re-encoded, resized, cropped) carries our watermark; its serial
leads to the manifest store the registry kept. That store is validated here against the
copy's bytes, as C2PA prescribes for a recovered manifest: the signature, the certificate
chain and every assertion are checked, and the hard binding (the hash of the signed file)
is compared with the copy. It cannot match a copy whose bytes changed, and the report says
so in plain words instead of calling the manifest broken.
"""

from __future__ import annotations

from synthmark.labels.c2pa_manifest import C2paReport, read_c2pa

#: Failure codes of a hard binding that does not cover these bytes (data hash for JPEG,
#: PNG and WebP; box hash and BMFF hash for other containers).
HARD_BINDING_CODES = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.bmffHash.mismatch",
    }
)
UNTRUSTED = "signingCredential.untrusted"


def recovered_report(
    store: bytes,
    data: bytes,
    mime_type: str,
    trust_anchors: bytes | str | None = None,
    *,
    via: str,
) -> C2paReport:
    """The report of a recovered manifest ``store`` checked against a copy's bytes ``data``.

    ``validation_state`` is what c2pa says about the copy (``Invalid`` when only the hard
    binding fails, as it must for changed bytes); ``signature_state`` is the verdict without
    the hard binding: ``Trusted``, ``Valid`` (signature good, signer not trusted) or
    ``Invalid`` (something else failed too).
    """
    report = read_c2pa(data, mime_type, trust_anchors, manifest_data=store)
    if report.manifest_id is None:  # the copy's container is one c2pa cannot pair: read alone
        alone = read_c2pa(store, "application/c2pa", trust_anchors, manifest_data=store)
        if alone.manifest_id is not None:
            report = alone
            report.errors.append(
                f"the manifest could not be checked against this {mime_type} copy; it was "
                "validated on its own"
            )
    report.present = False  # the copy carries no manifest: this one is recovered
    report.recovered = True
    report.recovered_via = via
    failures = [s for s in report.validation_codes if s.kind == "failure" and s.scope == "active"]
    hard = [s for s in failures if s.code in HARD_BINDING_CODES]
    other = [s for s in failures if s.code not in HARD_BINDING_CODES and s.code != UNTRUSTED]
    report.hard_binding = "mismatch" if hard else "match"
    if report.manifest_id is None or other:
        report.signature_state = "Invalid"
    else:
        untrusted = any(s.code == UNTRUSTED for s in failures)
        report.signature_state = "Valid" if untrusted else "Trusted"
    return report


def describe_recovery(report: C2paReport) -> str:
    """One sentence on a recovered manifest: how it was found and what validates."""
    binding = (
        "its hard binding does not match this copy's bytes, as expected for a copy that was "
        "re-encoded or stripped of its metadata"
        if report.hard_binding == "mismatch"
        else "its hard binding matches these bytes"
    )
    return (
        f"C2PA manifest {report.manifest_id} recovered from the registry through the "
        f"{report.recovered_via}: signature and assertions {report.signature_state}; {binding}"
    )


__all__ = ["HARD_BINDING_CODES", "describe_recovery", "recovered_report"]
