"""Turn gathered signals and the detector's probability into :class:`Evidence`, in plain words.

One function per layer, each returning zero or more pieces of evidence; the weights are the
rough reliability of each kind of signal (see :mod:`synthmark.screen.verdict` for how they
combine). The wording never claims more than the signal shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synthmark.labels.sourcetypes import short_name
from synthmark.screen.gather import Signals
from synthmark.screen.verdict import Evidence, Strength

#: Generator metadata whose presence says the file came out of a generation tool.
GENERATION_TOOLS = frozenset(
    {"AUTOMATIC1111", "InvokeAI", "NovelAI", "Midjourney", "SwarmUI", "Fooocus"}
)
#: What each term of the IPTC digital source type vocabulary declares, as the verdict reads
#: it: ``ai`` (generative AI took part: evidence of generation), ``capture`` (a camera or
#: scanner captured it) and ``not_ai`` (made or changed without generative AI): both
#: evidence against AI generation, as far as the declarer is believed; ``unclear`` says
#: nothing either way. Every term (https://cv.iptc.org/newscodes/digitalsourcetype/) is here
#: on purpose, the retired ones included; a term not listed counts as ``unclear``.
SOURCE_TYPES: dict[str, tuple[str, str]] = {
    "trainedAlgorithmicMedia": ("ai", "made by generative AI"),
    "compositeWithTrainedAlgorithmicMedia": ("ai", "a composite with generative-AI elements"),
    "algorithmicMedia": ("not_ai", "made by an algorithm without training data, not by AI"),
    "compositeSynthetic": (
        "not_ai",
        "a composite with synthetic elements such as CGI, not declared as generative AI",
    ),
    "dataDrivenMedia": ("not_ai", "drawn from data by an algorithm (a chart, say), not by AI"),
    "digitalArt": ("not_ai", "made by a person with software tools, not by generative AI"),
    "digitalCreation": ("not_ai", "made by a person with software tools, not by generative AI"),
    "softwareImage": ("not_ai", "made by software, not declared as generative AI"),
    "humanEdits": ("not_ai", "edited by a person without generative AI"),
    "minorHumanEdits": ("not_ai", "lightly edited by a person without generative AI"),
    "algorithmicallyEnhanced": ("not_ai", "enhanced by an algorithm, not by generative AI"),
    "digitalCapture": ("capture", "captured by a digital camera"),
    "computationalCapture": ("capture", "captured with computational photography"),
    "negativeFilm": ("capture", "scanned from negative film"),
    "positiveFilm": ("capture", "scanned from positive film"),
    "print": ("capture", "scanned from a print"),
    "compositeCapture": ("capture", "a composite of captured elements"),
    "screenCapture": ("unclear", "a screen capture of whatever was on the screen"),
    "virtualRecording": ("unclear", "a recording of a virtual event"),
    "composite": ("unclear", "a composite of unstated elements"),
}


def _kind(name: str) -> str:
    return SOURCE_TYPES.get(name, ("unclear", ""))[0]


def _declared(names: list[str]) -> str:
    """``algorithmicMedia (made by an algorithm ...)``, one per distinct name."""
    return "; ".join(f"{n} ({SOURCE_TYPES[n][1]})" for n in dict.fromkeys(names))


@dataclass(frozen=True)
class DetectorScore:
    """The detector's output for one image."""

    probability: float
    threshold: float
    model: str


def c2pa_evidence(labels: Any) -> list[Evidence]:
    """A manifest's declared source types (every manifest of its chain): generative AI in a
    valid one is conclusive, in a broken one indicative; a declared capture or non-AI
    making counts against AI generation, as far as the signer is believed."""
    c2pa = labels.c2pa
    types = [short_name(t) for t in c2pa.digital_source_types]
    ai = [t for t in types if _kind(t) == "ai"]
    if getattr(c2pa, "recovered", False):
        return [_recovered(c2pa, ai)]
    if not c2pa.present:
        return [Evidence("c2pa", "absent", Strength.neutral, "No C2PA manifest.")]
    other = [t for t in types if _kind(t) in ("capture", "not_ai")]
    state = c2pa.validation_state
    signer = f", signed by {c2pa.signer}" if c2pa.signer else ""
    generator = f", claim generator {c2pa.claim_generator}" if c2pa.claim_generator else ""
    if state in ("Valid", "Trusted"):
        trust = "trusted" if state == "Trusted" else "valid but not from a trusted signer"
        if ai:
            return [
                Evidence(
                    "c2pa",
                    "declared_ai",
                    Strength.conclusive,
                    f"C2PA manifest ({trust}{signer}) declares AI generation: "
                    f"{', '.join(dict.fromkeys(ai))}{generator}.",
                    0.99,
                )
            ]
        if other:
            captured = all(_kind(t) == "capture" for t in other)
            return [
                Evidence(
                    "c2pa",
                    "declared_capture" if captured else "declared_not_ai",
                    Strength.against,
                    f"C2PA manifest ({trust}{signer}) declares {_declared(other)}. A "
                    "manifest can only vouch for what its signer states.",
                )
            ]
        return [
            Evidence(
                "c2pa",
                "valid_no_source_type",
                Strength.neutral,
                f"C2PA manifest ({trust}{signer}) without a digital source type that says "
                "how the image was made.",
            )
        ]
    codes = ", ".join(c2pa.failure_codes[:3]) or "unreadable"
    if ai:
        return [
            Evidence(
                "c2pa",
                "invalid_declared_ai",
                Strength.indicative,
                f"C2PA manifest declares AI generation ({', '.join(dict.fromkeys(ai))}) "
                f"but fails validation ({codes}): the file changed after signing.",
                0.7,
            )
        ]
    return [
        Evidence(
            "c2pa", "invalid", Strength.neutral, f"C2PA manifest present but invalid ({codes})."
        )
    ]


def _recovered(c2pa: Any, ai: list[str]) -> Evidence:
    """A manifest the file lost, recovered through our watermark's serial: its signature is
    checked; its hash of the signed file cannot match a re-encoded copy, and is not held
    against it."""
    from synthmark.labels.recovery import describe_recovery

    said = describe_recovery(c2pa)
    generator = f", claim generator {c2pa.claim_generator}" if c2pa.claim_generator else ""
    if c2pa.signature_state in ("Valid", "Trusted") and ai:
        return Evidence(
            "c2pa",
            "recovered_declared_ai",
            Strength.conclusive,
            f"{said}. It declares AI generation: {', '.join(dict.fromkeys(ai))}{generator}.",
            0.99,
        )
    return Evidence("c2pa", "recovered", Strength.neutral, f"{said}.")


def xmp_evidence(labels: Any) -> list[Evidence]:
    dst = labels.xmp.digital_source_type
    if not dst:
        return []
    name = short_name(dst)
    kind = _kind(name)
    if kind == "ai":
        return [
            Evidence(
                "xmp",
                "declared_ai",
                Strength.indicative,
                f"IPTC XMP DigitalSourceType is {name}: {SOURCE_TYPES[name][1]} (an unsigned "
                "label).",
                0.8,
            )
        ]
    if kind in ("capture", "not_ai"):
        return [
            Evidence(
                "xmp",
                "declared_capture" if kind == "capture" else "declared_not_ai",
                Strength.against,
                f"IPTC XMP DigitalSourceType is {name}: {SOURCE_TYPES[name][1]} (an unsigned "
                "label).",
            )
        ]
    return []


def generator_evidence(labels: Any) -> list[Evidence]:
    out = []
    for meta in labels.generators:
        if meta.tool in GENERATION_TOOLS:
            keys = ", ".join(list(meta.fields)[:4])
            out.append(
                Evidence(
                    "generator_metadata",
                    meta.tool,
                    Strength.indicative,
                    f"{meta.tool} generation metadata in {meta.where}"
                    f"{f' ({keys})' if keys else ''}.",
                    0.75,
                )
            )
        elif meta.tool == "ComfyUI":
            if meta.fields.get("has_prompt_graph") and meta.fields.get(
                "image_matches_graph_aspect", True
            ):
                out.append(
                    Evidence(
                        "generator_metadata",
                        "ComfyUI",
                        Strength.indicative,
                        "ComfyUI prompt graph in the file, matching its size.",
                        0.5,
                    )
                )
            else:
                out.append(
                    Evidence(
                        "generator_metadata",
                        "ComfyUI_workflow",
                        Strength.neutral,
                        "ComfyUI workflow metadata only; it is also carried by "
                        "screenshots of the node editor, so it does not show the "
                        "pixels were generated.",
                    )
                )
    software = (labels.exif.software or "").lower()
    for name in (
        "midjourney",
        "dall-e",
        "dall·e",
        "stable diffusion",
        "novelai",
        "firefly",
        "imagen",
        "ideogram",
    ):
        if name in software:
            out.append(
                Evidence(
                    "exif",
                    "software",
                    Strength.indicative,
                    f"EXIF Software names a generator: {labels.exif.software}.",
                    0.6,
                )
            )
            break
    return out


#: why an unbound synthmark mark could not be checked, by the attribution's reason
_UNKNOWN_WHY = {
    "no registry at hand": "no registry was at hand to check it against",
    "registered without a content description": (
        "its registry record predates content descriptions"
    ),
    "the read gave no geometry": "the read gave no geometry to compare with",
    "too little of the picture to compare": "too little of the picture is left to compare",
}


def synthmark_evidence(readout: Any, record: Any, p_text: str) -> Evidence:
    """Our present mark, by its attribution (:mod:`synthmark.watermark.attribution`): only
    ``bound`` is conclusive; ``copied`` and ``unregistered`` are warnings that count for
    nothing; ``unknown`` is indicative."""
    serial = int.from_bytes(readout.payload, "big")
    found = f"synthmark watermark found: serial {serial}, false-positive probability <= {p_text}"
    state = readout.attribution or "unknown"
    if state == "bound":
        made = ""
        if record is not None and record.created_at:
            made = f"; registry: made {record.created_at:%Y-%m-%d} by {record.model_id}"
        return Evidence(
            "watermark",
            "synthmark_present",
            Strength.conclusive,
            f"{found}, on the picture registered for it{made}.",
            0.999,
        )
    if state == "copied":
        return Evidence(
            "watermark",
            "synthmark_copied",
            Strength.warning,
            f"Warning: a synthmark watermark (serial {serial}) is on this image, but the "
            f"picture registered for serial {serial} is a different one: the mark was "
            "copied onto this image (a forgery, or a heavy edit), so it is no evidence that "
            "this picture was generated.",
        )
    if state == "unregistered":
        return Evidence(
            "watermark",
            "synthmark_unregistered",
            Strength.warning,
            f"Warning: a synthmark watermark with serial {serial} is on this image, but "
            f"serial {serial} is not in the registry (marked outside generation, or "
            "forged), so it is no evidence that this picture was generated.",
        )
    binding = readout.details.get("binding") or {}
    why = _UNKNOWN_WHY.get(str(binding.get("why")), "")
    return Evidence(
        "watermark",
        "synthmark_unverified",
        Strength.indicative,
        f"{found}; it could not be checked that the mark belongs to this picture"
        f"{f' ({why})' if why else ''}, and a mark can be copied onto another picture.",
        0.9,
    )


def watermark_evidence(signals: Signals) -> list[Evidence]:
    out = []
    for readout in signals.watermarks:
        status = str(getattr(readout.status, "value", readout.status))
        p = readout.p_value
        p_text = f"{p:.1e}" if isinstance(p, float) else "unknown"
        if readout.scheme == "synthmark":
            if status == "present":
                out.append(synthmark_evidence(readout, signals.registry_record, p_text))
            elif status == "damaged":
                out.append(
                    Evidence(
                        "watermark",
                        "synthmark_damaged",
                        Strength.indicative,
                        "A damaged synthmark watermark: the pattern is there "
                        f"(p = {p_text}) but its serial does not decode.",
                        0.6,
                    )
                )
        elif status == "present":
            fpr = readout.details.get("measured_fpr") if readout.details else None
            fpr_text = (
                f" (measured false-positive rate on photos: {fpr:.2%})"
                if isinstance(fpr, float)
                else ""
            )
            out.append(
                Evidence(
                    "watermark",
                    f"{readout.scheme}_present",
                    Strength.indicative,
                    f"Stable Diffusion's public watermark {readout.scheme} found{fpr_text}.",
                    0.85,
                )
            )
    return out


def registry_evidence(signals: Signals) -> list[Evidence]:
    lookup = signals.registry
    if lookup is None:
        return []
    if lookup.exact:
        record = lookup.exact[0]
        return [
            Evidence(
                "registry",
                "exact",
                Strength.conclusive,
                f"Byte-identical to registry record {record.serial} (model {record.model_id}).",
                0.999,
            )
        ]
    if lookup.similar:
        match = lookup.similar[0]
        return [
            Evidence(
                "registry",
                "perceptual",
                Strength.indicative,
                f"Looks like registry record {match.record.serial} (perceptual hash "
                f"{match.distance} of 64 bits away): a re-encoded or resized copy.",
                0.85,
            )
        ]
    return []


def detector_evidence(score: DetectorScore | None) -> list[Evidence]:
    if score is None:
        return []
    p, t = score.probability, score.threshold
    if p >= t:
        return [
            Evidence(
                "detector",
                "above_threshold",
                Strength.indicative,
                f"Detector ({score.model}) gives {p:.2f} that the image is generated "
                f"(threshold {t:.2f}).",
                min(0.9, max(0.5, p)),
            )
        ]
    return [
        Evidence(
            "detector",
            "below_threshold",
            Strength.neutral,
            f"Detector ({score.model}) gives {p:.2f} (below its threshold {t:.2f}).",
        )
    ]


def collect(signals: Signals, score: DetectorScore | None) -> list[Evidence]:
    """Every piece of evidence for one image, strongest layers first."""
    evidence: list[Evidence] = []
    if signals.labels is not None:
        evidence += c2pa_evidence(signals.labels)
    evidence += watermark_evidence(signals)
    evidence += registry_evidence(signals)
    if signals.labels is not None:
        evidence += xmp_evidence(signals.labels)
        evidence += generator_evidence(signals.labels)
    evidence += detector_evidence(score)
    return evidence


__all__ = ["SOURCE_TYPES", "DetectorScore", "collect"]
