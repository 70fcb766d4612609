"""The registry: serials from the database, records, look-ups and concurrent writers."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import sqlite3
import stat
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from synthmark.cli.main import app
from synthmark.errors import RegistryError, UsageError
from synthmark.registry import (
    GenerationRecord,
    RecordStatus,
    Registry,
    open_registry,
    phash_hex,
    phash_image,
)
from synthmark.registry.phash import band_neighbours, bands, hamming, parse_phash
from synthmark.registry.schema import SCHEMA_VERSION
from synthmark.registry.sqlite import SqliteRegistry
from synthmark.settings import Settings
from tests import hostile


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty registry of each backend: a SQLite file, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def reg(registry_url: str) -> Registry:
    registry = open_registry(registry_url)
    yield registry
    registry.close()


def _png(seed: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    return hostile.png_bytes(hostile.photo_like(size, seed=seed))


def _jpeg70_half(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=70)
    small = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = small.resize((small.width // 2, small.height // 2), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=95)
    return out.getvalue()


# --- life cycle --------------------------------------------------------------------------


def test_reserve_commit_and_get(reg: Registry) -> None:
    first, second = reg.reserve(model_id="tiny"), reg.reserve()
    assert second > first >= 1
    reserved = reg.get(first)
    assert reserved is not None and reserved.status is RecordStatus.RESERVED
    data = _png()
    record = reg.commit(
        first,
        data=data,
        manifest_id="urn:c2pa:abc",
        model_hash="5b83",
        pipeline="StableDiffusionPipeline",
        parameters={"prompt": "a secret", "negative_prompt": "nope", "steps": 20, "size": (96, 64)},
    )
    assert record.status is RecordStatus.COMMITTED and record.serial == first
    assert record.sha256 == hashlib.sha256(data).hexdigest()
    assert record.phash == phash_hex(phash_image(Image.open(io.BytesIO(data))))
    assert (record.image_format, record.width, record.height) == ("PNG", 96, 64)
    assert record.model_id == "tiny" and record.model_hash == "5b83"
    assert record.parameters == {"steps": 20, "size": [96, 64]}
    assert record.prompt is None
    assert record.prompt_hash == hashlib.sha256(b"a secret").hexdigest()
    assert record.created_at is not None and record.created_at.utcoffset() is not None
    assert reg.get(first) == record
    assert reg.by_sha256(record.sha256) == [record]
    assert reg.by_manifest_id("urn:c2pa:abc") == record
    assert reg.get(10_000) is None and reg.by_manifest_id("nope") is None


def test_prompt_text_only_on_opt_in(reg: Registry) -> None:
    serial = reg.reserve()
    record = reg.commit(
        serial,
        sha256="ab" * 32,
        phash=7,
        prompt="a cat",
        keep_prompt=True,
        parameters={"prompt": "a cat", "negative_prompt": "dog", "seed": 1},
    )
    assert record.prompt == "a cat"
    assert record.parameters == {"prompt": "a cat", "negative_prompt": "dog", "seed": 1}


def test_state_changes_that_cannot_happen(reg: Registry) -> None:
    serial = reg.reserve()
    reg.commit(serial, sha256="00" * 32, phash="0123456789abcdef")
    with pytest.raises(RegistryError, match=f"serial {serial} is committed"):
        reg.commit(serial, sha256="00" * 32, phash=1)
    with pytest.raises(RegistryError, match="committed"):
        reg.abandon(serial)
    with pytest.raises(RegistryError, match="no record with serial 999"):
        reg.commit(999, sha256="00" * 32, phash=1)
    other = reg.reserve()
    reg.abandon(other, "the pipeline ran out of memory")
    reg.abandon(other)
    record = reg.get(other)
    assert record is not None and record.status is RecordStatus.ABANDONED
    assert record.note == "the pipeline ran out of memory"
    assert reg.reserve() > other  # never reused


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs the image bytes"),
        ({"sha256": "xyz", "phash": 1}, "64 hex digits"),
        ({"sha256": "00" * 32, "phash": "nothex"}, "16 hex digits"),
        ({"sha256": "00" * 32, "phash": -1}, "64-bit"),
        ({"sha256": "00" * 32, "phash": 1, "parameters": {"x": {1, 2}}}, None),
    ],
)
def test_bad_commit_values(reg: Registry, kwargs: dict, message: str | None) -> None:
    serial = reg.reserve()
    if message is None:  # sets are written as text, not refused
        assert reg.commit(serial, **kwargs).parameters == {"x": "{1, 2}"}
        return
    with pytest.raises(UsageError, match=message):
        reg.commit(serial, **kwargs)
    record = reg.get(serial)
    assert record is not None and record.status is RecordStatus.RESERVED


def test_registry_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    reg = open_registry(Settings(home=tmp_path / "home"))
    reg.reserve()
    path = tmp_path / "home" / "registry.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reg.close()


def test_schema_is_migrated_once_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    SqliteRegistry(path).close()
    again = SqliteRegistry(path)
    assert again.schema_version == SCHEMA_VERSION
    again.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from the future', 'now')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(RegistryError, match="upgrade synthmark"):
        SqliteRegistry(path)


def test_open_registry_by_url_and_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    with open_registry(url) as reg:
        assert isinstance(reg, SqliteRegistry) and reg.path == tmp_path / "a.sqlite3"
        assert reg.url == url
    with open_registry(tmp_path / "b.sqlite3") as reg:
        assert reg.count() == 0
    with pytest.raises(UsageError, match=r"known: sqlite://"):
        open_registry("mysql://host/db")
    with pytest.raises(UsageError, match="sqlite:///PATH"):
        open_registry("sqlite:///")


# --- perceptual hash ----------------------------------------------------------------------


def test_band_search_covers_the_radius() -> None:
    value = 0x0123_4567_89AB_CDEF
    assert bands(value) == (0x0123, 0x4567, 0x89AB, 0xCDEF)
    assert len(band_neighbours(0, 2)) == 1 + 16 + 120
    # any hash within 8 bits agrees to within 2 bits on at least one band
    flipped = value ^ 0b1011 ^ (0b1011 << 16) ^ (0b11 << 32)
    assert hamming(value, flipped) == 8
    assert any(
        b2 in band_neighbours(b1, 2) for b1, b2 in zip(bands(value), bands(flipped), strict=True)
    )
    assert parse_phash("0x0123456789ABCDEF") == value


def test_lookup_phash_nearest_first_within_radius(reg: Registry) -> None:
    base = 0xF0F0_F0F0_0F0F_0F0F
    for flips in (0, 3, 8, 9, 20):
        serial = reg.reserve()
        mask = (1 << flips) - 1
        reg.commit(serial, sha256=f"{serial:064x}", phash=base ^ mask)
    matches = reg.lookup_phash(base, radius=8)
    assert [m.distance for m in matches] == [0, 3, 8]
    assert [m.distance for m in reg.lookup_phash(base, radius=8, limit=2)] == [0, 3]
    assert reg.lookup_phash(base, radius=0)[0].record.serial == matches[0].record.serial
    with pytest.raises(UsageError, match="radius"):
        reg.lookup_phash(base, radius=17)


def test_perceptual_lookup_survives_jpeg70_and_half_size(
    reg: Registry, shared_data: Path
) -> None:
    folders = ["sd21_faces", "real_unsplash_men", "real_cbsd68", "sd15_sd21base_classimages"]
    originals = {}
    for folder in folders:
        for path in sorted((shared_data / "detector" / folder).glob("*.*"))[:5]:
            data = path.read_bytes()
            serial = reg.reserve()
            reg.commit(serial, data=data)
            originals[serial] = data
    for serial, data in originals.items():
        attacked = _jpeg70_half(data)
        matches = reg.lookup_image(Image.open(io.BytesIO(attacked)).convert("RGB"))
        assert matches and matches[0].record.serial == serial, serial
        assert len(matches) == 1 and matches[0].distance <= 4
        lookup = reg.lookup_bytes(attacked)
        assert lookup.found and lookup.exact == []
        assert lookup.similar[0].record.serial == serial
    assert reg.lookup_bytes(data).exact[0].serial == serial


# --- concurrent writers -------------------------------------------------------------------


def _writer(url: str, worker: int, count: int, queue: multiprocessing.Queue) -> None:
    reg = open_registry(url)
    serials = []
    for i in range(count):
        serial = reg.reserve(model_id=f"worker-{worker}")
        digest = hashlib.sha256(f"{worker}-{i}".encode()).hexdigest()
        reg.commit(serial, sha256=digest, phash=(worker << 32) | i, parameters={"i": i})
        serials.append((serial, digest))
    reg.close()
    queue.put(serials)


def test_concurrent_writers_from_several_processes_lose_no_record(registry_url: str) -> None:
    open_registry(registry_url).close()
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers, per_worker = 4, 40
    procs = [
        ctx.Process(target=_writer, args=(registry_url, w, per_worker, queue))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    written = [item for chunk in results for item in chunk]
    assert len(written) == workers * per_worker
    assert len({serial for serial, _ in written}) == workers * per_worker
    with open_registry(registry_url) as reg:
        assert reg.count(RecordStatus.COMMITTED) == workers * per_worker
        assert reg.count() == workers * per_worker
        for serial, digest in written:
            record = reg.get(serial)
            assert record is not None and record.sha256 == digest


# --- bulk import, export and the command line -------------------------------------------


def test_import_records_keeps_serials(reg: Registry) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    records = [
        GenerationRecord(
            serial=100 + i,
            status=RecordStatus.COMMITTED,
            reserved_at=now,
            created_at=now,
            sha256=f"{i:064x}",
            phash=phash_hex(i * 977),
            parameters={"seed": i},
        )
        for i in range(5)
    ]
    assert reg.import_records(records) == 5
    assert reg.get(102) == records[2]
    assert reg.reserve() == 105
    assert [r.serial for r in reg.list_records(limit=2)] == [105, 104]
    assert [r.serial for r in reg.iter_records("committed", batch=2)] == [100, 101, 102, 103, 104]


def test_registry_cli(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    data = sorted((shared_data / "detector" / "real_cbsd68").glob("*.png"))[0].read_bytes()
    with open_registry(Settings(home=tmp_path)) as reg:
        serial = reg.reserve(model_id="tiny")
        reg.commit(serial, data=data, manifest_id="urn:c2pa:x")
        reg.abandon(reg.reserve())

    listed = runner.invoke(app, [*home, "registry", "list", "--json"])
    assert listed.exit_code == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["serial"], r["status"]) for r in rows] == [(2, "abandoned"), (1, "committed")]

    shown = runner.invoke(app, [*home, "registry", "show", str(serial), "--json"])
    assert json.loads(shown.stdout)["manifest_id"] == "urn:c2pa:x"
    missing = runner.invoke(app, [*home, "registry", "show", "99"])
    assert missing.exit_code == 1 and "Error: no record with serial 99" in missing.output

    attacked = tmp_path / "copy.jpg"
    attacked.write_bytes(_jpeg70_half(data))
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"nope")
    looked = runner.invoke(
        app, [*home, "registry", "lookup", str(attacked), str(garbage), "--json"]
    )
    assert looked.exit_code == 1
    first, second = (json.loads(line) for line in looked.stdout.splitlines())
    assert first["found"] is True and first["similar"][0]["record"]["serial"] == serial
    assert "error" in second
    original = tmp_path / "original.png"
    original.write_bytes(data)
    table = runner.invoke(app, [*home, "registry", "lookup", str(original)])
    assert table.exit_code == 0
    assert table.stdout.splitlines() == [f"{original}: serial {serial} (exact bytes)"]

    out = tmp_path / "export.jsonl"
    exported = runner.invoke(
        app, [*home, "registry", "export", "-o", str(out), "--status", "committed"]
    )
    assert exported.exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["serial"] for line in lines] == [serial]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_commit_record_and_its_keywords_are_the_same_commit(reg: Registry) -> None:
    from synthmark.registry import Commit

    facts = Commit(sha256="ab" * 32, phash=7, model_id="m", parameters={"steps": 3})
    first = reg.commit(reg.reserve(model_id="m"), facts)
    second = reg.commit(reg.reserve(model_id="m"), **{
        "sha256": "ab" * 32, "phash": 7, "model_id": "m", "parameters": {"steps": 3}
    })
    assert (first.sha256, first.phash, first.parameters) == (
        second.sha256, second.phash, second.parameters
    )
    with pytest.raises(TypeError, match="not both"):
        reg.commit(reg.reserve(), facts, sha256="cd" * 32)
    with pytest.raises(TypeError, match="unexpected keyword"):
        reg.commit(reg.reserve(), sha_256="cd" * 32)


def test_a_commit_stores_its_content_description_after_the_record(reg: Registry) -> None:
    from synthmark.registry import Commit

    serial = reg.reserve()
    reg.commit(serial, Commit(sha256="ab" * 32, phash=7, content=b"\x01description"))
    assert reg.get_content(serial) == b"\x01description"
    plain = reg.reserve()
    reg.commit(plain, sha256="cd" * 32, phash=8)
    assert reg.get_content(plain) is None
    refused = reg.reserve()
    with pytest.raises(UsageError, match="non-empty bytes"):
        reg.commit(refused, Commit(sha256="ef" * 32, phash=9, content=b""))
    assert reg.get(refused).status.value == "reserved"  # checked before the record
