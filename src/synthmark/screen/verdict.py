"""From pieces of evidence to one verdict, with its score and its reasons in plain words.

Each layer of screening (C2PA, XMP, generator metadata, watermarks, registry, detector)
turns what it found into :class:`Evidence`. :func:`decide` then applies the rules:

* **Conclusive** evidence (a C2PA manifest that validates and declares AI generation, our
  watermark found at its false-positive bound, an exact registry match) gives
  ``synthetic``. It outweighs the classifier.
* **Indicative** evidence (unsigned labels, generator metadata, Stable Diffusion's public
  marks, a perceptual registry match, the detector above its threshold, a broken manifest
  that declares AI) gives ``likely_synthetic``.
* Otherwise ``no_evidence``: absence of marks never proves a photo real, and the reasons say
  so.
* **Warnings** (our watermark copied onto another picture, or carrying a serial the
  registry does not know) count for nothing, but their reasons are always given.

The score is ``1 - prod(1 - weight)`` over the evidence for generation, so that it rises
with every independent signal and stays below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from synthmark.choices import VerdictLabel


class Strength(str, Enum):
    """How much one piece of evidence says about generation."""

    conclusive = "conclusive"
    indicative = "indicative"
    against = "against"  # evidence against AI generation (a declared capture, say), not proof
    neutral = "neutral"  # reported, says nothing either way
    warning = "warning"  # a reason the reader must see, counted for nothing


@dataclass(frozen=True)
class Evidence:
    """One finding of one layer: what it is, how strong, and how to say it."""

    layer: str
    finding: str
    strength: Strength
    reason: str
    weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0 or math.isnan(self.weight):
            raise ValueError(f"evidence weight must be in [0, 1], got {self.weight}")


@dataclass
class Verdict:
    """The outcome for one image."""

    verdict: VerdictLabel
    score: float
    reasons: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


NO_EVIDENCE_REASON = (
    "No provenance mark, label or detector evidence of AI generation was found. "
    "This does not prove the image is a real photograph: marks can be stripped and "
    "the detector misses some generated images."
)

#: The same when the detector did not run (switched off, or the image was outside its domain).
NO_EVIDENCE_REASON_WITHOUT_DETECTOR = (
    "No provenance mark or label of AI generation was found, and the detector did not "
    "score this image. This does not prove the image is a real photograph: marks can be "
    "stripped."
)

#: Weight given to conclusive evidence: the score floor of a synthetic verdict.
CONCLUSIVE_WEIGHT = 0.99


def decide(evidence: list[Evidence]) -> Verdict:
    """Combine evidence into one :class:`Verdict` (see the module docstring for the rules)."""
    conclusive = [e for e in evidence if e.strength is Strength.conclusive]
    indicative = [e for e in evidence if e.strength is Strength.indicative]
    against = [e for e in evidence if e.strength is Strength.against]
    warnings = [e for e in evidence if e.strength is Strength.warning]
    remaining = 1.0
    for item in conclusive:
        remaining *= 1.0 - max(item.weight, CONCLUSIVE_WEIGHT)
    for item in indicative:
        remaining *= 1.0 - item.weight
    score = round(1.0 - remaining, 4)
    if conclusive:
        label = VerdictLabel.synthetic
    elif indicative:
        label = VerdictLabel.likely_synthetic
    else:
        label = VerdictLabel.no_evidence
    ordered = conclusive + indicative
    reasons = [e.reason for e in ordered] + [e.reason for e in warnings]
    if label is VerdictLabel.no_evidence:
        detector_ran = any(e.layer == "detector" for e in evidence)
        reasons.append(NO_EVIDENCE_REASON if detector_ran else NO_EVIDENCE_REASON_WITHOUT_DETECTOR)
    if against:
        reasons.extend(e.reason for e in against)
        if label is not VerdictLabel.no_evidence:
            reasons.append(
                "Some signals point away from AI generation, but evidence of generation takes "
                "precedence."
            )
    return Verdict(verdict=label, score=score, reasons=reasons, evidence=list(evidence))


__all__ = [
    "NO_EVIDENCE_REASON",
    "NO_EVIDENCE_REASON_WITHOUT_DETECTOR",
    "Evidence", "Strength", "Verdict", "VerdictLabel", "decide"]
