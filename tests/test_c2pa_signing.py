"""Our own labels: signed PNG, JPEG and WebP read back Valid / Trusted, and tampering shows."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.errors import KeyMissing, LabelError, UsageError
from synthmark.jsonutil import dumps
from synthmark.labels import (
    WATERMARK_ASSERTION,
    Labeller,
    LabelRequest,
    SigningCredentials,
    init_local_ca,
    load_credentials,
    local_trust_anchor,
    read_labels,
)
from synthmark.labels.c2pa_manifest import offline_settings
from synthmark.labels.c2pa_sign import make_signer
from synthmark.labels.credentials import ENV_CERT, ENV_KEY, LocalCaPaths
from synthmark.labels.soft_binding import SOFT_BINDING_ALG
from synthmark.labels.sourcetypes import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
)
from synthmark.settings import Settings
from tests import hostile

FORMATS = ("PNG", "JPEG", "WEBP")
PROMPT = "a lighthouse at dusk, oil painting"
PARAMS = {
    "prompt": PROMPT,
    "negative_prompt": "blurry, text",
    "steps": 20,
    "sampler": "Euler a",
    "cfg_scale": 7.5,
    "seed": 1234,
    "size": (128, 96),
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("c2pa-home"))
    init_local_ca(settings)
    return settings


@pytest.fixture(scope="module")
def creds(settings: Settings) -> SigningCredentials:
    return load_credentials(settings, environ={})


@pytest.fixture(scope="module")
def image() -> Image.Image:
    return hostile.photo_like((128, 96), seed=3)


def _request(**kw: object) -> LabelRequest:
    base: dict[str, object] = dict(
        model_id="tiny-sd",
        model_hash="5b8393ca08",
        parameters=dict(PARAMS),
        watermark_serial=4242,
        provider="Acme",
    )
    base.update(kw)
    return LabelRequest(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def signed(creds: SigningCredentials, image: Image.Image) -> dict[str, bytes]:
    with Labeller(creds) as labeller:
        return {fmt: labeller.apply(image, fmt, _request()).data for fmt in FORMATS}


def _exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        pytest.fail("exiftool is not installed: run scripts/system-deps.sh")
    return path


# --- reading our own output ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_signed_file_reads_back_valid_and_trusted_with_our_anchor(
    fmt: str, signed: dict[str, bytes], settings: Settings
) -> None:
    plain = read_labels(signed[fmt]).c2pa
    assert plain.present and plain.validation_state == "Valid"
    assert plain.failure_codes == ["signingCredential.untrusted"]
    trusted = read_labels(signed[fmt], trust_anchors=local_trust_anchor(settings)).c2pa
    assert trusted.validation_state == "Trusted" and trusted.failure_codes == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_content(fmt: str, signed: dict[str, bytes]) -> None:
    report = read_labels(signed[fmt])
    c2pa = report.c2pa
    assert c2pa.claim_generator is not None and c2pa.claim_generator.startswith("synthmark/")
    created, watermarked = c2pa.actions
    assert created.action == "c2pa.created"
    assert created.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert created.software_agent == "tiny-sd 5b8393ca08"
    assert watermarked.action == "c2pa.watermarked"
    assert watermarked.software_agent is not None
    assert watermarked.software_agent.startswith("synthmark")
    assert c2pa.watermark == {"scheme": "synthmark", "serial": 4242}
    assert c2pa.digital_source_types == [TRAINED_ALGORITHMIC_MEDIA]
    assert report.declared_ai == [
        "C2PA manifest (Valid): trainedAlgorithmicMedia",
        "XMP DigitalSourceType: trainedAlgorithmicMedia",
    ]
    assert WATERMARK_ASSERTION == "org.synthmark.watermark"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_soft_binding_names_the_watermark_and_c2pa_reads_it_back(
    fmt: str, signed: dict[str, bytes]
) -> None:
    """c2pa-python itself (not our summary) returns the assertion, with our alg and the
    serial's payload as value, and the manifest still validates."""
    import base64

    import c2pa as c2pa_python

    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    context = c2pa_python.Context.from_dict(offline_settings())
    reader = c2pa_python.Reader(mime, io.BytesIO(signed[fmt]), None, context)
    store = json.loads(reader.json())
    reader.close()
    context.close()
    active = store["manifests"][store["active_manifest"]]
    [binding] = [a["data"] for a in active["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert binding["alg"] == SOFT_BINDING_ALG == "org.synthmark.watermark.1"
    [block] = binding["blocks"]
    assert base64.b64decode(block["value"]) == (4242).to_bytes(8, "big")
    assert store["validation_state"] == "Valid"
    assert read_labels(signed[fmt]).c2pa.soft_bindings == [
        {"alg": SOFT_BINDING_ALG, "value": block["value"]}
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_claim_thumbnail_is_a_small_jpeg_of_the_picture(
    fmt: str, creds: SigningCredentials
) -> None:
    import c2pa as c2pa_python
    import numpy as np

    picture = hostile.photo_like((600, 300), seed=5)
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    context = c2pa_python.Context.from_dict(offline_settings())

    def thumbnail(data: bytes) -> Image.Image | None:
        reader = c2pa_python.Reader(mime, io.BytesIO(data), None, context)
        try:
            store = json.loads(reader.json())
            ref = store["manifests"][store["active_manifest"]].get("thumbnail")
            if ref is None:
                return None
            assert ref["format"] == "image/jpeg" and store["validation_state"] == "Valid"
            out = io.BytesIO()
            reader.resource_to_stream(ref["identifier"], out)
            return Image.open(io.BytesIO(out.getvalue()))
        finally:
            reader.close()

    with Labeller(creds) as labeller:
        thumb = thumbnail(labeller.apply(picture, fmt, _request()).data)
    with Labeller(creds, thumbnail=False) as labeller:
        assert thumbnail(labeller.apply(picture, fmt, _request()).data) is None
    context.close()
    assert thumb is not None and thumb.format == "JPEG" and thumb.size == (256, 128)
    expected = np.asarray(picture.resize((256, 128), Image.Resampling.BILINEAR), np.float32)
    assert np.abs(np.asarray(thumb.convert("RGB"), np.float32) - expected).mean() < 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_xmp_and_parameters_read_back(fmt: str, signed: dict[str, bytes]) -> None:
    report = read_labels(signed[fmt])
    assert report.xmp.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.xmp.credit == "Made with AI (model tiny-sd, by Acme)"
    [gen] = report.generators
    assert gen.tool == "AUTOMATIC1111"
    assert gen.where == ("PNG tEXt 'parameters'" if fmt == "PNG" else "EXIF UserComment")
    assert gen.fields["steps"] == 20 and gen.fields["seed"] == 1234
    assert gen.fields["sampler"] == "Euler a" and gen.fields["model"] == "tiny-sd"
    assert (gen.fields["width"], gen.fields["height"]) == (128, 96)


@pytest.mark.exiftool
@pytest.mark.parametrize("fmt", FORMATS)
def test_exiftool_reads_our_xmp(fmt: str, signed: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / f"signed.{fmt.lower()}"
    path.write_bytes(signed[fmt])
    out = subprocess.run(
        [
            _exiftool(),
            "-s",
            "-s",
            "-s",
            "-XMP-iptcExt:DigitalSourceType",
            "-XMP-photoshop:Credit",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == [TRAINED_ALGORITHMIC_MEDIA, "Made with AI (model tiny-sd, by Acme)"]


@pytest.mark.exiftool
@pytest.mark.parametrize("fmt", FORMATS)
def test_exiftool_reads_the_a1111_parameters(
    fmt: str, signed: dict[str, bytes], tmp_path: Path
) -> None:
    path = tmp_path / f"signed.{fmt.lower()}"
    path.write_bytes(signed[fmt])
    tag = "-PNG:Parameters" if fmt == "PNG" else "-EXIF:UserComment"
    out = subprocess.run(
        [_exiftool(), "-s", "-s", "-s", tag, str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 128x96" in out


def test_edits_are_labelled_composite(creds: SigningCredentials, image: Image.Image) -> None:
    with Labeller(creds) as labeller:
        out = labeller.apply(image, "JPEG", _request(edited=True))
    report = read_labels(out.data)
    assert report.c2pa.digital_source_types == [COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA]
    assert report.xmp.digital_source_type == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA


# --- the prompt only on opt-in ----------------------------------------------------------


def _contains(data: bytes, text: str) -> bool:
    return text.encode("utf-8") in data or text.encode("utf-16-be") in data


@pytest.mark.parametrize("fmt", FORMATS)
def test_prompt_is_left_out_unless_opted_in(
    fmt: str, signed: dict[str, bytes], creds: SigningCredentials, image: Image.Image
) -> None:
    assert not _contains(signed[fmt], PROMPT)
    assert not _contains(signed[fmt], "blurry, text")
    with Labeller(creds) as labeller:
        data = labeller.apply(image, fmt, _request(include_prompt=True)).data
    report = read_labels(data)
    assert report.xmp.ai_prompt == PROMPT
    assert report.generators[0].fields["prompt"] == PROMPT
    assert report.generators[0].fields["negative_prompt"] == "blurry, text"


# --- tampering ----------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def change_one_png_pixel(data: bytes) -> bytes:
    """The same PNG, every chunk kept, with one pixel of the image data changed."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    x, y = im.width // 2, im.height // 2
    r, g, b = im.getpixel((x, y))  # type: ignore[misc]
    im.putpixel((x, y), (r ^ 1, g, b))
    raw = im.tobytes()
    stride = im.width * 3
    rows = b"".join(b"\x00" + raw[i * stride : (i + 1) * stride] for i in range(im.height))
    out, written = [data[:8]], False
    for kind, payload in _png_chunks(data):
        if kind == b"IDAT":
            if not written:
                out.append(_chunk(b"IDAT", zlib.compress(rows)))
                written = True
            continue
        out.append(_chunk(kind, payload))
    return b"".join(out)


def flip_a_scan_byte(data: bytes, fmt: str) -> bytes:
    """Change one byte of the compressed image data (JPEG scan, WebP VP8 bitstream)."""
    # JPEG: the last start-of-scan, as the manifest's thumbnail is a JPEG too.
    start = 200 + (data.rindex(b"\xff\xda") if fmt == "JPEG" else data.index(b"VP8 "))
    pos = next(
        i
        for i in range(start, len(data))
        if data[i] not in (0xFF, 0xFE, 0x00) and data[i - 1] != 0xFF
    )
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def test_one_changed_pixel_makes_the_png_manifest_invalid(
    signed: dict[str, bytes], settings: Settings
) -> None:
    original = signed["PNG"]
    tampered = change_one_png_pixel(original)
    a = Image.open(io.BytesIO(original)).convert("RGB").tobytes()
    b = Image.open(io.BytesIO(tampered)).convert("RGB").tobytes()
    assert sum(x != y for x, y in zip(a, b, strict=True)) == 1
    c2pa = read_labels(tampered, trust_anchors=local_trust_anchor(settings)).c2pa
    assert c2pa.present and c2pa.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in c2pa.failure_codes


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_changed_image_data_makes_the_manifest_invalid(
    fmt: str, signed: dict[str, bytes], settings: Settings
) -> None:
    tampered = flip_a_scan_byte(signed[fmt], fmt)
    assert len(tampered) == len(signed[fmt]) and tampered != signed[fmt]
    c2pa = read_labels(tampered, trust_anchors=local_trust_anchor(settings)).c2pa
    assert c2pa.present and c2pa.validation_state == "Invalid"
    assert "assertion.dataHash.mismatch" in c2pa.failure_codes


def test_a_converted_copy_still_declares_ai_through_its_ingredient(
    signed: dict[str, bytes], creds: SigningCredentials
) -> None:
    import c2pa

    pixels = Image.open(io.BytesIO(signed["PNG"])).convert("RGB")
    jpeg = hostile.jpeg_bytes(pixels, quality=90)
    context = c2pa.Context.from_dict(offline_settings())
    definition = {
        "claim_generator_info": [{"name": "converter", "version": "1.0"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
                        {"action": "c2pa.converted"},
                    ]
                },
            }
        ],
    }
    builder = c2pa.Builder(definition, context=context)
    builder.add_ingredient(
        {"title": "made.png", "relationship": "parentOf", "instance_id": "parent"},
        "image/png",
        io.BytesIO(signed["PNG"]),
    )
    out = io.BytesIO()
    signer = make_signer(creds.cert_chain_pem, creds.private_key_pem, creds.alg, None)
    builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    report = read_labels(out.getvalue()).c2pa
    assert [a.action for a in report.actions] == ["c2pa.opened", "c2pa.converted"]
    assert all(a.digital_source_type is None for a in report.actions)
    assert report.digital_source_types == [TRAINED_ALGORITHMIC_MEDIA]
    assert [m.claim_generator.split("/")[0] for m in report.manifests] == [
        "converter",
        "synthmark",
    ]


# --- failures are errors, never unlabelled output ----------------------------------------


def test_unknown_format_is_a_usage_error(creds: SigningCredentials, image: Image.Image) -> None:
    with Labeller(creds) as labeller, pytest.raises(UsageError, match="known: PNG, JPEG, WEBP"):
        labeller.apply(image, "GIF", _request())


def test_unreachable_time_stamp_authority_is_a_label_error(
    creds: SigningCredentials, image: Image.Image
) -> None:
    with_tsa = SigningCredentials(
        cert_chain_pem=creds.cert_chain_pem,
        private_key_pem=creds.private_key_pem,
        alg=creds.alg,
        tsa_url="http://127.0.0.1:9/tsa",
    )
    with Labeller(with_tsa) as labeller, pytest.raises(LabelError, match="signing failed"):
        labeller.apply(image, "PNG", _request())


def test_metadata_too_big_for_jpeg_is_a_label_error(
    creds: SigningCredentials, image: Image.Image
) -> None:
    huge = _request(include_prompt=True, parameters={**PARAMS, "prompt": "x" * 70_000})
    with Labeller(creds) as labeller, pytest.raises(LabelError, match="JPEG"):
        labeller.apply(image, "JPEG", huge)


# --- credentials ------------------------------------------------------------------------


def test_keys_are_private_and_never_printed(settings: Settings, creds: SigningCredentials) -> None:
    paths = LocalCaPaths.under(settings.keys_dir)
    for key in (paths.signer_key, paths.root_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.folder.stat().st_mode) == 0o700
    key_text = creds.private_key_pem.decode()
    body = key_text.splitlines()[1]
    assert body not in repr(creds) and body not in dumps(creds)


def test_init_refuses_to_overwrite_without_force(settings: Settings) -> None:
    with pytest.raises(UsageError, match="--force"):
        init_local_ca(settings)


def test_missing_credentials_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(KeyMissing, match="synthmark keys init"):
        load_credentials(Settings(home=tmp_path), environ={})


def test_user_credentials_from_environment_paths(settings: Settings, tmp_path: Path) -> None:
    paths = LocalCaPaths.under(settings.keys_dir)
    env = {ENV_CERT: str(paths.signer_chain), ENV_KEY: str(paths.signer_key)}
    creds = load_credentials(Settings(home=tmp_path), environ=env)
    assert creds.source == f"${ENV_CERT} + ${ENV_KEY}" and creds.alg == "es256"
    with pytest.raises(UsageError, match="set both"):
        load_credentials(Settings(home=tmp_path), environ={ENV_CERT: env[ENV_CERT]})


def test_self_signed_and_mismatched_credentials_are_refused(
    settings: Settings, tmp_path: Path
) -> None:
    paths = LocalCaPaths.under(settings.keys_dir)
    root = tmp_path / "root.pem"
    root.write_bytes(paths.root_cert.read_bytes())
    with pytest.raises(UsageError, match="self-signed"):
        load_credentials(settings, cert=root, key=paths.root_key, environ={})
    with pytest.raises(UsageError, match="does not belong"):
        load_credentials(settings, cert=paths.signer_chain, key=paths.root_key, environ={})
    with pytest.raises(KeyMissing, match="does not exist"):
        load_credentials(settings, cert=tmp_path / "none.pem", key=paths.root_key, environ={})


def test_keys_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    missing = runner.invoke(app, [*home, "keys", "show"])
    assert missing.exit_code == 1 and "Error: no C2PA signing credentials" in missing.output
    made = runner.invoke(app, [*home, "keys", "init", "--org", "Acme", "--json"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert Path(created["root_ca"]).is_file() and "KEY" not in made.output
    shown = runner.invoke(app, [*home, "keys", "show", "--json"])
    info = json.loads(shown.stdout)
    assert info["sha256_fingerprint"] == created["sha256_fingerprint"]
    assert info["issuer"] == "O=Acme,CN=Acme local root CA"
    assert info["extended_key_usages"] == ["documentSigning", "emailProtection"]
    again = runner.invoke(app, [*home, "keys", "init", "--json"])  # keeps what exists
    assert again.exit_code == 0, again.output
    kept = json.loads(again.stdout)
    assert kept["sha256_fingerprint"] == created["sha256_fingerprint"]
    assert not kept["c2pa_created"] and not kept["watermark_key_created"]
    reshaped = runner.invoke(app, [*home, "keys", "init", "--org", "Other"])
    assert reshaped.exit_code == 2 and "--force" in reshaped.output
    assert os.stat(created["signer_key"]).st_mode & 0o077 == 0


def test_user_supplied_chain_signs_valid_without_an_anchor(
    settings: Settings, tmp_path: Path, image: Image.Image
) -> None:
    paths = LocalCaPaths.under(settings.keys_dir)
    elsewhere = Settings(home=tmp_path)
    creds = load_credentials(elsewhere, cert=paths.signer_chain, key=paths.signer_key, environ={})
    assert creds.trust_anchor_pem is None and creds.source.startswith("files ")
    with Labeller(creds) as labeller:
        out = labeller.apply(image, "WEBP", _request())
    assert out.validation_state == "Valid" and out.manifest_id.startswith("urn:c2pa:")
    assert read_labels(out.data).c2pa.manifest_id == out.manifest_id


def test_keys_init_checks_name_lengths_and_takes_a_long_organisation(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, option in (
        (["--common-name", ""], "--common-name"),
        (["--org", "x" * 65], "--org"),
    ):
        result = runner.invoke(app, ["--home", str(tmp_path / "bad"), "keys", "init", *args])
        assert result.exit_code == 2 and f"{option} must be 1 to 64 characters" in result.output
    org = "International Association of Synthetic Media Producers"  # 54 characters
    made = runner.invoke(app, ["--home", str(tmp_path / "ok"), "keys", "init", "--org", org])
    assert made.exit_code == 0, made.output
    shown = runner.invoke(app, ["--home", str(tmp_path / "ok"), "keys", "show", "--json"])
    assert shown.exit_code == 0 and org in shown.output
