"""The verdict rules, one kind of evidence at a time."""

from __future__ import annotations

import pytest

from synthmark.screen.verdict import (
    NO_EVIDENCE_REASON,
    NO_EVIDENCE_REASON_WITHOUT_DETECTOR,
    Evidence,
    Strength,
    VerdictLabel,
    decide,
)

MANIFEST = Evidence("c2pa", "declared_ai", Strength.conclusive, "C2PA says AI", 0.99)
WATERMARK = Evidence("watermark", "present", Strength.conclusive, "watermark found", 0.999)
XMP = Evidence("xmp", "declared_ai", Strength.indicative, "XMP says AI", 0.8)
DETECTOR_HIGH = Evidence("detector", "above_threshold", Strength.indicative, "detector 0.9", 0.6)
DETECTOR_LOW = Evidence("detector", "below_threshold", Strength.neutral, "detector 0.1", 0.0)
CAPTURE = Evidence("c2pa", "declared_capture", Strength.against, "C2PA says camera", 0.0)


def test_nothing_found_is_no_evidence_and_says_it_is_not_proof() -> None:
    verdict = decide([DETECTOR_LOW])
    assert verdict.verdict is VerdictLabel.no_evidence
    assert verdict.score == 0.0
    assert verdict.reasons == [NO_EVIDENCE_REASON]
    assert "does not prove" in verdict.reasons[0]


@pytest.mark.parametrize("conclusive", [MANIFEST, WATERMARK])
def test_conclusive_evidence_outweighs_the_classifier(conclusive: Evidence) -> None:
    verdict = decide([conclusive, DETECTOR_LOW])
    assert verdict.verdict is VerdictLabel.synthetic
    assert verdict.score >= 0.99
    assert verdict.reasons[0] == conclusive.reason


@pytest.mark.parametrize("indicative", [XMP, DETECTOR_HIGH])
def test_indicative_evidence_alone_is_likely_synthetic(indicative: Evidence) -> None:
    verdict = decide([indicative])
    assert verdict.verdict is VerdictLabel.likely_synthetic
    assert verdict.score == pytest.approx(indicative.weight)


def test_independent_signals_raise_the_score() -> None:
    assert decide([XMP, DETECTOR_HIGH]).score == pytest.approx(1 - 0.2 * 0.4)


def test_capture_claim_is_reported_but_never_overrides_a_watermark() -> None:
    verdict = decide([CAPTURE, WATERMARK])
    assert verdict.verdict is VerdictLabel.synthetic
    assert "C2PA says camera" in verdict.reasons
    alone = decide([CAPTURE])
    assert alone.verdict is VerdictLabel.no_evidence
    assert alone.reasons[-1] == "C2PA says camera"


def test_weights_are_checked() -> None:
    with pytest.raises(ValueError, match="weight"):
        Evidence("x", "y", Strength.indicative, "z", 1.5)


def test_no_evidence_without_the_detector_does_not_mention_detector_evidence() -> None:
    verdict = decide([])
    assert verdict.verdict is VerdictLabel.no_evidence
    assert verdict.reasons == [NO_EVIDENCE_REASON_WITHOUT_DETECTOR]
    assert "did not score" in verdict.reasons[0] and "does not prove" in verdict.reasons[0]


def _labels(source_type: str, state: str = "Valid", xmp: str | None = None):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    c2pa = SimpleNamespace(
        present=True,
        digital_source_types=[f"http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"],
        validation_state=state,
        signer="Test",
        claim_generator=None,
        failure_codes=[] if state == "Valid" else ["assertion.dataHash.mismatch"],
    )
    return SimpleNamespace(c2pa=c2pa, xmp=SimpleNamespace(digital_source_type=xmp))


#: Every term of the IPTC digital source type vocabulary, retired ones included.
IPTC_TERMS = (
    "digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "print",
    "humanEdits", "compositeCapture", "algorithmicallyEnhanced", "dataDrivenMedia",
    "digitalArt", "virtualRecording", "compositeSynthetic", "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "screenCapture",
    "digitalCreation", "minorHumanEdits", "softwareImage", "composite",
)


def test_every_iptc_source_type_is_mapped_and_only_ai_ones_count_as_ai() -> None:
    from synthmark.labels.sourcetypes import AI_SOURCE_TYPES
    from synthmark.screen.evidence import SOURCE_TYPES

    assert set(IPTC_TERMS) <= set(SOURCE_TYPES)
    assert {n for n, (kind, _) in SOURCE_TYPES.items() if kind == "ai"} == AI_SOURCE_TYPES


@pytest.mark.parametrize("term", IPTC_TERMS)
def test_verdict_and_reason_agree_for_each_source_type(term: str) -> None:
    from synthmark.screen.evidence import SOURCE_TYPES, c2pa_evidence, xmp_evidence

    kind = SOURCE_TYPES[term][0]
    for evidence in (c2pa_evidence(_labels(term)), xmp_evidence(_labels(term, xmp=term))):
        verdict = decide(evidence)
        text = " ".join(verdict.reasons)
        if kind == "ai":
            assert verdict.verdict is not VerdictLabel.no_evidence
            assert "AI" in text
        else:
            assert verdict.verdict is VerdictLabel.no_evidence, (term, verdict)
            assert "declares AI" not in text
        if kind in ("capture", "not_ai"):
            assert term in text  # the declaration is reported, as evidence against AI
        if kind == "not_ai":
            said = text.split(term, 1)[1].split(".")[0]
            assert " not " in said or "without" in said, said  # "..., not by AI" etc.


def test_algorithmic_media_is_not_called_synthetic(shared_data) -> None:  # type: ignore[no-untyped-def]
    """c2pa-rs's CIE-sig-CA.jpg: a valid manifest declaring algorithmicMedia (no training
    data). It was ``synthetic 0.99`` while its own reason said "not trained AI"."""
    from synthmark.screen.screener import Screener, ScreenOptions

    path = shared_data / "provenance/c2pa/sdk/tests/fixtures/CIE-sig-CA.jpg"
    record = Screener(ScreenOptions(use_detector=False)).screen_path(path)
    assert record["verdict"] == "no_evidence" and record["score"] == 0.0
    reasons = " ".join(record["reasons"])
    assert "declares algorithmicMedia (made by an algorithm without training data" in reasons
    assert "declares AI" not in reasons


def test_a_broken_manifest_declaring_ai_stays_indicative() -> None:
    from synthmark.screen.evidence import c2pa_evidence

    (evidence,) = c2pa_evidence(_labels("trainedAlgorithmicMedia", state="Invalid"))
    assert evidence.strength is Strength.indicative
    assert decide([evidence]).verdict is VerdictLabel.likely_synthetic
