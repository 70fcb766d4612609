"""Turn gathered signals and the detector's probability into :class:`Evidence`, in plain words.

One function per layer, each returning zero or more pieces of evidence; the weights are the
rough reliability of each kind of signal (see :mod:`synthmark.screen.verdict` for how they
combine). The wording never claims more than the signal shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synthmark.labels.sourcetypes import AI_SOURCE_TYPES
from synthmark.screen.gather import Signals
from synthmark.screen.verdict import Evidence, Strength

#: Generator metadata whose presence says the file came out of a generation tool.
GENERATION_TOOLS = frozenset(
    {"AUTOMATIC1111", "InvokeAI", "NovelAI", "Midjourney", "SwarmUI", "Fooocus"}
)
#: IPTC digital source types that declare a camera capture.
CAPTURE_TYPES = frozenset(
    {"digitalCapture", "negativeFilm", "positiveFilm", "print", "computationalCapture"}
)


@dataclass(frozen=True)
class DetectorScore:
    """The detector's output for one image."""

    probability: float
    threshold: float
    model: str


def _short(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


#: IPTC digital source types that declare a made, not captured, image. The first two mean
#: generative AI (trained on data); ``algorithmicMedia`` and ``compositeSynthetic`` mean made
#: by an algorithm without training data (procedural graphics, say): synthetic, not AI.
SYNTHETIC_SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
    "compositeSynthetic",
)


def _declares(types: list[str]) -> str:
    """How to say what ``types`` declare: AI generation, or algorithmic media."""
    if any(t in AI_SOURCE_TYPES for t in types):
        return "declares AI generation"
    return "declares algorithmically made media (not trained AI)"


def c2pa_evidence(labels: Any) -> list[Evidence]:
    c2pa = labels.c2pa
    if not c2pa.present:
        return [Evidence("c2pa", "absent", Strength.neutral, "No C2PA manifest.")]
    types = [_short(t) for t in c2pa.digital_source_types]
    ai = [t for t in types if t in SYNTHETIC_SOURCE_TYPES]
    declares = _declares(ai)
    capture = [t for t in types if t in CAPTURE_TYPES]
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
                    f"C2PA manifest ({trust}{signer}) {declares}: "
                    f"{', '.join(dict.fromkeys(ai))}{generator}.",
                    0.99,
                )
            ]
        if capture:
            return [
                Evidence(
                    "c2pa",
                    "declared_capture",
                    Strength.against,
                    f"C2PA manifest ({trust}{signer}) declares a capture: "
                    f"{', '.join(dict.fromkeys(capture))}. A manifest can only "
                    "vouch for what its signer states.",
                )
            ]
        return [
            Evidence(
                "c2pa",
                "valid_no_source_type",
                Strength.neutral,
                f"C2PA manifest ({trust}{signer}) without a digital source type.",
            )
        ]
    codes = ", ".join(c2pa.failure_codes[:3]) or "unreadable"
    if ai:
        return [
            Evidence(
                "c2pa",
                "invalid_declared_ai",
                Strength.indicative,
                f"C2PA manifest {declares} ({', '.join(dict.fromkeys(ai))}) "
                f"but fails validation ({codes}): the file changed after signing.",
                0.7,
            )
        ]
    return [
        Evidence(
            "c2pa", "invalid", Strength.neutral, f"C2PA manifest present but invalid ({codes})."
        )
    ]


def xmp_evidence(labels: Any) -> list[Evidence]:
    dst = labels.xmp.digital_source_type
    if not dst:
        return []
    name = _short(dst)
    if name in SYNTHETIC_SOURCE_TYPES:
        return [
            Evidence(
                "xmp",
                "declared_ai",
                Strength.indicative,
                f"IPTC XMP DigitalSourceType is {name} (an unsigned label).",
                0.8,
            )
        ]
    if name in CAPTURE_TYPES:
        return [
            Evidence(
                "xmp",
                "declared_capture",
                Strength.against,
                f"IPTC XMP DigitalSourceType is {name} (an unsigned label).",
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


__all__ = ["DetectorScore", "collect"]
