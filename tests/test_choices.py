"""The shared choices (``synthmark.choices``): in step with the library, and light."""

from __future__ import annotations

from synthmark.choices import (
    DetectorHead,
    FailOn,
    FoldSplit,
    OutputFormat,
    ReadScheme,
    RecordStatus,
    StatusFilter,
    VerdictLabel,
    WatermarkSchemeName,
)
from synthmark.detect.heads import HEADS
from synthmark.detect.validation import CV_MODES
from synthmark.watermark import list_schemes


def test_scheme_choices_are_the_registered_schemes() -> None:
    assert [s.value for s in WatermarkSchemeName] == list_schemes()
    assert [s.value for s in ReadScheme] == ["auto", *list_schemes()]


def test_status_filter_is_every_record_status_and_all() -> None:
    assert {s.value for s in StatusFilter} == {"all"} | {s.value for s in RecordStatus}


def test_fail_on_names_verdicts_above_no_evidence() -> None:
    assert [f.verdict for f in FailOn] == [VerdictLabel.synthetic, VerdictLabel.likely_synthetic]
    ranks = [v.value for v in sorted(VerdictLabel, key=lambda v: v.rank)]
    assert ranks == ["no_evidence", "likely_synthetic", "synthetic"]


def test_output_formats_name_their_pil_format_and_suffix() -> None:
    assert [(f.pil_name, f.suffix) for f in OutputFormat] == [
        ("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp")
    ]



def test_detector_choices_are_the_registered_heads_and_fold_splits() -> None:
    assert {h.value for h in DetectorHead} == set(HEADS.names())
    assert {f.value for f in FoldSplit} == set(CV_MODES)
