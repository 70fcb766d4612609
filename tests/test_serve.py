"""The HTTP service: upload, limits, authentication and hostile files (the browser page, the
moderator's console, is tested in ``test_console.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from synthmark.imaging import ImageLimits
from synthmark.screen.screener import Screener, ScreenOptions
from synthmark.serve.app import ServeConfig, create_app
from tests import hostile


def _screen_fn(options: ScreenOptions | None = None):  # type: ignore[no-untyped-def]
    screener = Screener(options or ScreenOptions(use_detector=False))

    def screen(data: bytes, name: str, limits: ImageLimits) -> dict[str, Any]:
        screener.options.limits = limits
        return screener.screen_bytes(data, name)

    return screen


@pytest.fixture
def client() -> TestClient:
    return TestClient(
        create_app(ServeConfig(max_bytes=2_000_000, max_pixels=4_000_000), _screen_fn())
    )


@pytest.fixture
def full_client() -> TestClient:
    """Every layer on, the detector included, and the default 25 MB upload limit."""
    return TestClient(create_app(ServeConfig(), _screen_fn(ScreenOptions(use_detector=True))))


def _png(size: tuple[int, int] = (64, 64)) -> bytes:
    return hostile.png_bytes(hostile.photo_like(size))


def test_healthz_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert "/v1/screen" in schema["paths"]


def test_http_errors_have_the_error_shape(client: TestClient) -> None:
    wrong_method = client.get("/v1/screen")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    malformed = client.post(
        "/v1/screen",
        content=b"--x\r\nnot a multipart body",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert malformed.status_code in (400, 422) and "error" in malformed.json()


def test_multipart_and_raw_uploads_give_the_screen_record(client: TestClient) -> None:
    multipart = client.post("/v1/screen", files={"file": ("photo.png", _png(), "image/png")})
    assert multipart.status_code == 200
    body = multipart.json()
    assert body["path"] == "photo.png"
    assert body["verdict"] == "no_evidence"
    assert "does not prove" in body["reasons"][-1]
    raw = client.post(
        "/v1/screen?filename=raw.png", content=_png(), headers={"content-type": "image/png"}
    )
    assert raw.status_code == 200 and raw.json()["path"] == "raw.png"


def test_size_limit_gives_413(client: TestClient) -> None:
    big = b"\x89PNG" + b"\x00" * 2_200_000
    response = client.post("/v1/screen", content=big)
    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]


def test_pixel_limit_gives_a_per_file_error(client: TestClient) -> None:
    from PIL import Image

    flat = hostile.png_bytes(Image.new("RGB", (2100, 2000), (90, 90, 90)))
    response = client.post("/v1/screen", files={"file": ("wide.png", flat)})
    assert response.status_code == 422
    assert "pixels" in response.json()["error"]


def test_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHMARK_API_TOKEN", "s3cret")
    app = create_app(ServeConfig.from_env(), _screen_fn())
    client = TestClient(app)
    assert client.post("/v1/screen", content=_png()).status_code == 401
    wrong = client.post("/v1/screen", content=_png(), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = client.post("/v1/screen", content=_png(), headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/healthz").status_code == 200  # liveness stays open


def test_time_limit_gives_504_and_keeps_serving() -> None:
    def slow(data: bytes, name: str, limits: ImageLimits) -> dict[str, Any]:
        time.sleep(1.0)
        return {"path": name, "verdict": "no_evidence", "score": 0.0, "reasons": []}

    client = TestClient(create_app(ServeConfig(timeout_s=0.2, concurrency=1), slow))
    response = client.post("/v1/screen", content=_png())
    assert response.status_code == 504
    time.sleep(1.0)
    assert client.get("/healthz").json()["status"] == "ok"


def test_hostile_corpus_gets_results_or_clear_errors(
    full_client: TestClient, tmp_path: Path
) -> None:
    client = full_client
    corpus = hostile.build_corpus(tmp_path / "corpus")
    for name, (path, readable) in corpus.items():
        data = path.read_bytes()
        response = client.post("/v1/screen", files={"file": (path.name, data)})
        body = response.json()
        if readable:
            assert response.status_code == 200, (name, body)
            assert body["verdict"] in ("synthetic", "likely_synthetic", "no_evidence")
        else:
            assert response.status_code in (400, 413, 422), (name, body)
            assert body["error"], name
    assert client.get("/healthz").status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_listens_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SYNTHMARK_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthmark", "serve", "--port", str(port), "--no-detector"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.time() < deadline, "the service did not answer in 60 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_refuses_a_busy_port_and_an_unwritable_upload_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthmark.cli.main import app

    env = {"SYNTHMARK_HOME": str(tmp_path / "home")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port), "--no-detector"], env=env)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "service on" not in result.output
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        app, ["serve", "--no-detector", "--keep-uploads", str(blocker / "uploads")], env=env
    )
    assert result.exit_code == 1 and "cannot write there" in result.output


def test_one_access_line_per_request_without_image_data_or_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from synthmark.serve.access import ACCESS_LOGGER

    token = "s3cret-token-value"
    app = create_app(ServeConfig(max_bytes=2_000_000, token=token), _screen_fn())
    client = TestClient(app)
    image = _png()
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        ok = client.post(
            "/v1/screen?filename=holiday.png", content=image,
            headers={"Authorization": f"Bearer {token}"},
        )
        refused = client.post("/v1/screen", content=image)
        health = client.get("/healthz")
    assert (ok.status_code, refused.status_code, health.status_code) == (200, 401, 200)
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 3
    method, path, status, ms, unit, verdict = lines[0].split()
    assert (method, path, status, unit, verdict) == (
        "POST", "/v1/screen", "200", "ms", ok.json()["verdict"]
    )
    assert float(ms) >= 0
    assert lines[1].startswith("POST /v1/screen 401 ") and lines[1].endswith(" -")
    assert lines[2].startswith("GET /healthz 200 ")
    logged = "\n".join(lines)
    assert token not in logged and "holiday" not in logged and "Bearer" not in logged
