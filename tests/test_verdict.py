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


def test_algorithmic_media_is_synthetic_but_not_called_ai() -> None:
    from types import SimpleNamespace

    from synthmark.screen.evidence import c2pa_evidence

    def labels(source_type: str) -> SimpleNamespace:
        c2pa = SimpleNamespace(
            present=True,
            digital_source_types=[f"http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"],
            validation_state="Valid",
            signer="Test",
            claim_generator=None,
            failure_codes=[],
        )
        return SimpleNamespace(c2pa=c2pa)

    (algorithmic,) = c2pa_evidence(labels("algorithmicMedia"))
    assert algorithmic.strength is Strength.conclusive
    assert "not trained AI" in algorithmic.reason and "AI generation" not in algorithmic.reason
    (trained,) = c2pa_evidence(labels("trainedAlgorithmicMedia"))
    assert "declares AI generation" in trained.reason
