"""A file's own metadata through marking and labelling: what is kept, what is not, and why."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageCms
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.labels.containers import extract_blocks
from synthmark.labels.keep import keep_metadata, save_options
from synthmark.labels.xmp import merge_xmp, parse_xmp
from tests import hostile
from tests.test_label import exiftool

runner = CliRunner()

XMP_THEIRS = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/" xmp:CreatorTool="Photo Editor 3" '
    b'xmpMM:InstanceID="xmp.iid:old" xmpMM:DocumentID="xmp.did:kept" '
    b'dcterms:provenance="self#jumbf=/c2pa/urn:c2pa:old/c2pa.claim">'
    b'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour &amp; boats</rdf:li></rdf:Alt>'
    b"</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)


def _srgb() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def rich_jpeg(size: tuple[int, int] = (320, 288), orientation: int = 1) -> bytes:
    """A photo-like JPEG with EXIF (camera, date, orientation), an sRGB profile, XMP and a
    comment: what a camera or an editor leaves in a file."""
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    exif[0x0110] = "Camera 9"
    exif[0x0132] = "2024:05:01 10:00:00"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:00:00"
    buf = io.BytesIO()
    hostile.photo_like(size, seed=5).save(
        buf, "JPEG", quality=92, exif=exif, icc_profile=_srgb(), xmp=XMP_THEIRS,
        comment=b"shot on a boat",
    )
    return buf.getvalue()


# --- the pieces -----------------------------------------------------------------------------


def test_merge_keeps_their_properties_and_replaces_only_ours() -> None:
    from datetime import datetime, timezone

    from synthmark.labels.xmp import XmpFields, build_xmp

    ours = build_xmp(XmpFields("http://cv.iptc.org/newscodes/digitalsourcetype/"
                               "trainedAlgorithmicMedia", "Made with AI", "synthmark 0.1.0",
                               datetime(2025, 1, 1, tzinfo=timezone.utc)))
    merged, notes = merge_xmp(XMP_THEIRS, ours)
    assert merged is not None
    report = parse_xmp(merged)
    assert report.errors == []
    assert report.creator_tool == "synthmark 0.1.0"
    assert report.digital_source_type.endswith("trainedAlgorithmicMedia")  # type: ignore[union-attr]
    text = merged.decode("utf-8")
    assert "Harbour &amp; boats" in text and 'xmpMM:DocumentID="xmp.did:kept"' in text
    assert "xmp.iid:old" not in text and "urn:c2pa:old" not in text
    assert sorted(notes) == [
        "XMP dcterms:provenance: stale",
        "XMP xmp:CreatorTool: replaced by synthmark",
        "XMP xmpMM:InstanceID: stale",
    ]


def test_a_packet_with_a_dtd_is_not_merged() -> None:
    evil = b'<!DOCTYPE x [<!ENTITY a "b">]><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    merged, notes = merge_xmp(evil, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert merged == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    assert notes == ["XMP: the file's packet could not be parsed safely"]


def test_exif_orientation_grey_icc_and_thumbnail_are_not_kept() -> None:
    from synthmark.imaging import load_image

    data = rich_jpeg(orientation=6)
    loaded = load_image(data)
    kept = keep_metadata(extract_blocks(data), loaded.info, loaded.original_mode, loaded.size,
                         "PNG", replace_exif=(0x0131,))
    assert kept.exif is not None and 0x0112 not in kept.exif and kept.exif[0x010F] == "Acme"
    assert kept.icc_profile == loaded.info["icc_profile"]
    assert any("Orientation 6" in d for d in kept.dropped)
    assert any("JPEG comment" in d for d in kept.dropped)  # a PNG has no place for it
    grey = io.BytesIO()
    Image.new("L", (64, 64), 90).save(
        grey, "PNG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    )
    loaded = load_image(grey.getvalue())
    kept = keep_metadata(extract_blocks(grey.getvalue()), loaded.info, loaded.original_mode,
                         loaded.size, "PNG")
    assert kept.icc_profile is None
    assert any("ICC profile" in d for d in kept.dropped)


def test_save_options_write_what_is_kept_into_each_format() -> None:
    from synthmark.imaging import load_image

    data = rich_jpeg()
    loaded = load_image(data)
    for fmt in ("PNG", "JPEG", "WEBP"):
        kept = keep_metadata(extract_blocks(data), loaded.info, loaded.original_mode,
                             loaded.size, fmt)
        buf = io.BytesIO()
        loaded.image.save(buf, fmt, **save_options(fmt, kept))
        blocks = extract_blocks(buf.getvalue())
        assert blocks.exif is not None and blocks.exif.get(0x0110) == "Camera 9", fmt
        assert blocks.xmp is not None and b"Harbour" in blocks.xmp, fmt
        assert Image.open(io.BytesIO(buf.getvalue())).info.get("icc_profile") == _srgb(), fmt


# --- issue 20, item 10: `watermark embed` keeps what it can and says what it cannot --------


@pytest.mark.exiftool
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_watermark_embed_keeps_exif_icc_and_xmp(tmp_path: Path, suffix: str) -> None:
    src = hostile.write(tmp_path / "photo.jpg", rich_jpeg())
    out = tmp_path / f"marked{suffix}"
    runner.invoke(app, ["watermark", "keygen"])
    result = runner.invoke(
        app, ["watermark", "embed", str(src), "-o", str(out), "--payload",
              "00000000000004d2", "--json"],
    )
    assert result.exit_code == 0, result.output
    tags = exiftool(out, "-EXIF:Make", "-EXIF:Model", "-EXIF:DateTimeOriginal",
                     "-ICC_Profile:ProfileDescription", "-XMP-dc:Title",
                     "-XMP-xmpMM:DocumentID")
    assert tags["IFD0:Make"] == "Acme" and tags["IFD0:Model"] == "Camera 9"
    assert tags["ExifIFD:DateTimeOriginal"] == "2024:05:01 10:00:00"
    assert tags["ICC_Profile:ProfileDescription"] == "sRGB built-in"
    assert tags["XMP-dc:Title"] == "Harbour & boats"
    assert tags["XMP-xmpMM:DocumentID"] == "xmp.did:kept"
    record = json.loads(result.stdout.splitlines()[0])
    assert {"EXIF", "ICC profile", "XMP"} <= set(record["kept"])
    if suffix == ".png":
        assert any("JPEG comment" in d for d in record["not_kept"])
    assert "not kept" not in result.stdout  # people's messages stay on stderr


def test_watermark_embed_says_why_a_c2pa_manifest_is_not_kept(
    tmp_path: Path, shared_data: Path
) -> None:
    src = shared_data / "provenance/c2pa/sdk/tests/fixtures/CA.jpg"
    out = tmp_path / "marked.jpg"
    runner.invoke(app, ["watermark", "keygen"])
    result = runner.invoke(
        app, ["watermark", "embed", str(src), "-o", str(out), "--payload", "00000000000004d2"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "not kept: C2PA manifest: the mark changes the pixels" in text
    assert "synthmark label" in text
    assert extract_blocks(out.read_bytes()).jumbf is False
