"""A screening record (``synthmark.screen.record``) and its one JSON form."""

from __future__ import annotations

from synthmark.choices import VerdictLabel
from synthmark.jsonutil import dumps
from synthmark.screen.export import csv_row, jsonl_line
from synthmark.screen.record import ScreenRecord, record_json


def test_a_record_reads_like_its_json_object() -> None:
    record = ScreenRecord(
        "a.png", VerdictLabel.synthetic, 0.99, ["mark found"], "PNG", 64, 32,
        {"watermarks": {}}, ["note"],
    )
    assert record["verdict"] == "synthetic" and record["score"] == 0.99
    assert "error" not in record and record.get("error") is None
    assert record_json(record) == {
        "path": "a.png", "verdict": "synthetic", "score": 0.99, "reasons": ["mark found"],
        "format": "PNG", "width": 64, "height": 32, "layers": {"watermarks": {}},
        "notes": ["note"],
    }


def test_a_failed_record_is_path_and_error_only() -> None:
    failed = ScreenRecord.failed("b.png", "cannot decode")
    assert record_json(failed) == {"path": "b.png", "error": "cannot decode"}
    assert "error" in failed and failed["error"] == "cannot decode"


def test_a_record_and_its_json_object_write_the_same_bytes() -> None:
    record = ScreenRecord("c.jpg", VerdictLabel.no_evidence, 0.0, ["nothing"])
    as_json = record_json(record)
    assert jsonl_line(record) == jsonl_line(as_json) == dumps(as_json) + "\n"
    assert csv_row(record) == csv_row(as_json) == ["c.jpg", "no_evidence", 0.0, "nothing", ""]
