"""Reading C2PA manifests written by others: the 72 files of c2pa-rs's test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.labels import read_labels
from synthmark.labels.containers import C2PA_STORE_SIGNATURE
from synthmark.labels.sourcetypes import TRAINED_ALGORITHMIC_MEDIA

ABSENT = {
    "cli/sample/image.jpg",
    "cli/tests/fixtures/earth_apollo17.jpg",
    "cli/tests/fixtures/libpng-test.png",
    "sdk/tests/fixtures/MultiPage.tif",
    "sdk/tests/fixtures/P1000827.jpg",
    "sdk/tests/fixtures/TUSCANY.TIF",
    "sdk/tests/fixtures/mars.webp",
    "sdk/tests/fixtures/no_manifest.jpg",
    "sdk/tests/fixtures/sample1.avif",
    "sdk/tests/fixtures/sample1.gif",
    "sdk/tests/fixtures/sample1.png",
    "sdk/tests/fixtures/sample1.webp",
    "sdk/tests/fixtures/test.tiff",
    "sdk/tests/fixtures/test.webp",
    "sdk/tests/fixtures/test_lossless.webp",
    "sdk/tests/fixtures/test_xmp.webp",
}
REMOTE = {
    "sdk/tests/fixtures/cloud.jpg",
    "sdk/tests/fixtures/cloudx.jpg",
    "sdk/tests/fixtures/libpng-test_with_url.png",
}
UNPARSEABLE = {"sdk/tests/fixtures/tiff_poc.tiff"}


@pytest.fixture(scope="module")
def c2pa_dir(shared_data: Path) -> Path:
    return shared_data / "provenance" / "c2pa"


@pytest.fixture(scope="module")
def reports(c2pa_dir: Path) -> dict[str, object]:
    files = sorted(p for p in c2pa_dir.rglob("*") if p.is_file())
    return {str(p.relative_to(c2pa_dir)): read_labels(p.read_bytes(), p) for p in files}


def test_all_72_files_are_read_without_a_crash(reports: dict[str, object]) -> None:
    assert len(reports) == 72


def test_valid_invalid_and_absent_are_told_apart(reports: dict) -> None:
    states = {name: r.c2pa.validation_state for name, r in reports.items()}
    absent = {name for name, r in reports.items() if not r.c2pa.present}
    assert absent == ABSENT | REMOTE | UNPARSEABLE
    assert all(states[name] is None for name in absent)
    present = set(reports) - absent
    assert {states[name] for name in present} == {"Valid", "Invalid"}
    assert sum(states[n] == "Valid" for n in present) == 25
    assert sum(states[n] == "Invalid" for n in present) == 27


def test_present_agrees_with_the_jumbf_bytes_in_the_file(c2pa_dir: Path, reports: dict) -> None:
    for name, report in reports.items():
        if name in REMOTE:
            continue
        data = (c2pa_dir / name).read_bytes()
        assert report.c2pa.present == (C2PA_STORE_SIGNATURE in data), name


def test_a_manifest_that_fails_validation_is_invalid_never_absent(reports: dict) -> None:
    tampered = {
        "sdk/tests/fixtures/E-sig-CA.jpg": "claimSignature.mismatch",
        "sdk/tests/fixtures/XCA.jpg": "assertion.dataHash.mismatch",
        "sdk/tests/fixtures/adobe-20220124-E-clm-CAICAI.jpg": "assertion.hashedURI.mismatch",
    }
    for name, code in tampered.items():
        c2pa = reports[name].c2pa
        assert c2pa.present and c2pa.validation_state == "Invalid", name
        assert code in c2pa.failure_codes, (name, c2pa.failure_codes)
    # c2pa cannot even build a reader for these, yet they carry a manifest: Invalid.
    for name, words in {
        "sdk/tests/fixtures/no_alg.jpg": "algorithm",
        "sdk/tests/fixtures/prerelease.jpg": "prerelease",
    }.items():
        c2pa = reports[name].c2pa
        assert c2pa.present and c2pa.validation_state == "Invalid", name
        assert any(words in e for e in c2pa.errors), c2pa.errors


def test_a_valid_but_untrusted_manifest_says_so(reports: dict) -> None:
    c2pa = reports["sdk/tests/fixtures/CA.jpg"].c2pa
    assert c2pa.validation_state == "Valid"
    assert c2pa.failure_codes == ["signingCredential.untrusted"]
    assert c2pa.claim_generator and "make_test_images" in c2pa.claim_generator
    assert c2pa.manifest_id and c2pa.signer == "C2PA Signer / C2PA Test Signing Cert"


def test_remote_manifests_are_not_fetched(reports: dict) -> None:
    for name in REMOTE:
        c2pa = reports[name].c2pa
        assert c2pa.remote_url and c2pa.remote_url.startswith("http")
        assert any("not fetched" in e for e in c2pa.errors)


def test_an_unparseable_file_gives_an_error_for_that_file_only(reports: dict) -> None:
    report = reports["sdk/tests/fixtures/tiff_poc.tiff"]
    assert report.errors and not report.c2pa.present
    others = [r for n, r in reports.items() if n not in UNPARSEABLE | REMOTE]
    assert all(not r.c2pa.errors for r in others if r.c2pa.validation_state != "Invalid")


def test_digital_source_types_cover_the_whole_ingredient_chain(reports: dict) -> None:
    # Firefly made the picture (trainedAlgorithmicMedia); Photoshop edited it, and its
    # active manifest says only compositeWithTrainedAlgorithmicMedia.
    c2pa = reports["sdk/tests/fixtures/ocsp.jpg"].c2pa
    active = c2pa.manifests[0]
    assert TRAINED_ALGORITHMIC_MEDIA not in active.digital_source_types
    assert TRAINED_ALGORITHMIC_MEDIA in c2pa.digital_source_types
    assert [m.claim_generator.split("/")[0] for m in c2pa.manifests] == [
        "Adobe Photoshop",
        "Adobe_Firefly adobe_c2pa",
    ]
    assert reports["sdk/tests/fixtures/ocsp.jpg"].declared_ai


def test_algorithmic_media_is_not_reported_as_generative_ai(reports: dict) -> None:
    report = reports["sdk/tests/fixtures/C.jpg"]
    assert [t.rsplit("/", 1)[1] for t in report.c2pa.digital_source_types] == ["algorithmicMedia"]
    assert report.declared_ai == []


def test_damaged_copies_report_errors_and_the_batch_goes_on(c2pa_dir: Path) -> None:
    good = (c2pa_dir / "sdk/tests/fixtures/CA.jpg").read_bytes()
    batch = [good, good[: len(good) // 2], b"not an image at all", b"", good]
    reports = [read_labels(data) for data in batch]
    assert [r.c2pa.validation_state for r in reports] == ["Valid", "Invalid", None, None, "Valid"]
    assert reports[1].c2pa.present and reports[1].c2pa.errors
    assert reports[2].errors == ["not an image in a format synthmark recognises"]
    assert reports[3].errors == ["empty file (0 bytes)"]
