"""The Soft Binding Resolution API in ``serve``: routes, errors, limits, the OpenAPI schema, and a
client written only from the public description recovering a manifest over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from synthmark.labelling import GenerationInfo, label, open_labelling
from synthmark.labelling.resolve import ManifestResolver
from synthmark.labels.soft_binding import SOFT_BINDING_ALG
from synthmark.registry import open_registry
from synthmark.serve.app import ServeConfig, create_app
from synthmark.settings import Settings
from synthmark.watermark.keys import load_key
from tests import hostile
from tests.sbr_client import ResolutionError, SoftBindingClient
from tests.test_label import make_home
from tests.test_label_recovery import jpeg_copy, photo

pytestmark = pytest.mark.timeout(300)


def _value(serial: int) -> str:
    return base64.b64encode(serial.to_bytes(8, "big")).decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    """A home with keys and a registry holding two labelled pictures (one with a parent)."""
    root = tmp_path_factory.mktemp("sbr")
    settings = make_home(root / "home")
    with open_labelling(settings) as parts:
        made = label(photo(shared_data), GenerationInfo(model="sd-test"), root / "made.png",
                     labelling=parts)
        from synthmark.labelling import label_file

        child = label_file(parts, shared_data / "provenance/c2pa/sdk/tests/fixtures/CA.jpg",
                           root, model="sd-test")
    return {"settings": settings, "made": made, "child": child, "root": root}


def _client(world: dict[str, Any], **config: Any) -> TestClient:
    settings = world["settings"]
    resolver = ManifestResolver(open_registry(settings), load_key(settings))
    app = create_app(ServeConfig(**config), lambda d, n, lim: {"path": n}, resolver)
    return TestClient(app)


def test_by_binding_finds_the_manifest(world: dict[str, Any]) -> None:
    client = _client(world)
    made = world["made"]
    answer = client.get("/v1/matches/byBinding",
                        params={"alg": SOFT_BINDING_ALG, "value": made.soft_binding["value"]})
    assert answer.status_code == 200
    assert answer.json() == {"matches": [{"manifestId": made.manifest_id, "similarityScore": 100}]}
    large = client.post("/v1/matches/byBinding",
                        json={"alg": SOFT_BINDING_ALG, "value": made.soft_binding["value"]})
    assert large.json() == answer.json()
    unknown = client.get("/v1/matches/byBinding",
                         params={"alg": SOFT_BINDING_ALG, "value": _value(10_000)})
    assert unknown.status_code == 200 and unknown.json() == {"matches": []}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"alg": "com.adobe.trustmark.Q", "value": "AAAAAAAAAAE="}, "unsupported soft binding"),
        ({"alg": SOFT_BINDING_ALG, "value": "not base64!"}, "not base64"),
        ({"alg": SOFT_BINDING_ALG, "value": "AAAA"}, "decodes to 8 bytes"),
        ({"alg": SOFT_BINDING_ALG}, "value"),
        ({"alg": SOFT_BINDING_ALG, "value": "AAAAAAAAAAE=", "maxResults": "0"}, "maxResults"),
        ({"alg": SOFT_BINDING_ALG, "value": "AAAAAAAAAAE=", "maxResults": "x"}, "maxResults"),
    ],
)
def test_bad_alg_value_or_parameter_is_400(
    world: dict[str, Any], params: dict[str, str], expected: str
) -> None:
    answer = _client(world).get("/v1/matches/byBinding", params=params)
    assert answer.status_code == 400
    assert expected in answer.json()["error"]


def test_manifests_by_id_whole_and_active_only(world: dict[str, Any]) -> None:
    import c2pa

    client = _client(world)
    child = world["child"]
    whole = client.get(f"/v1/manifests/{child.manifest_id}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "application/c2pa"
    active = client.get(f"/v1/manifests/{child.manifest_id}",
                        params={"returnActiveManifest": "true"})
    assert active.status_code == 200 and len(active.content) < len(whole.content)
    for body, count in ((whole.content, 2), (active.content, 1)):
        reader = c2pa.Reader("application/c2pa", io.BytesIO(body))
        store = json.loads(reader.json())
        reader.close()
        assert store["active_manifest"] == child.manifest_id
        assert len(store["manifests"]) == count  # with its parent, or alone
    missing = client.get("/v1/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "no manifest" in missing.json()["error"]
    assert client.get("/v1/manifests/" + "u" * 300).status_code == 400


def test_by_content_reads_the_watermark_of_a_stripped_copy(world: dict[str, Any]) -> None:
    client = _client(world)
    made = world["made"]
    copy = jpeg_copy(Image.open(made.path).convert("RGB").resize((400, 400)), quality=80)
    answer = client.post("/v1/matches/byContent", content=copy,
                         headers={"Content-Type": "image/jpeg"})
    assert answer.status_code == 200
    assert answer.json()["matches"][0]["manifestId"] == made.manifest_id
    plain = jpeg_copy(hostile.photo_like((320, 320), seed=9))
    none = client.post("/v1/matches/byContent", content=plain,
                       headers={"Content-Type": "image/jpeg"})
    assert none.json() == {"matches": []}
    hinted = client.post("/v1/matches/byContent", content=plain,
                         headers={"Content-Type": "image/jpeg"},
                         params={"hintAlg": SOFT_BINDING_ALG,
                                 "hintValue": made.soft_binding["value"]})
    assert hinted.json()["matches"][0]["manifestId"] == made.manifest_id


def test_by_content_errors(world: dict[str, Any]) -> None:
    client = _client(world, max_bytes=50_000)
    post = client.post
    assert post("/v1/matches/byContent", content=b"text",
                headers={"Content-Type": "text/plain"}).status_code == 415
    assert post("/v1/matches/byContent", content=b"not an image",
                headers={"Content-Type": "image/png"}).status_code == 415
    assert post("/v1/matches/byContent", content=b"").status_code == 400
    big = post("/v1/matches/byContent", content=b"\0" * 60_000,
               headers={"Content-Type": "image/png"})
    assert big.status_code == 413 and big.json()["error"].startswith("upload is over")
    bad_alg = post("/v1/matches/byContent", params={"alg": "x"}, content=b"\x89PNG",
                   headers={"Content-Type": "image/png"})
    assert bad_alg.status_code == 400
    settings = world["settings"]
    keyless = TestClient(create_app(ServeConfig(), lambda d, n, lim: {},
                                    ManifestResolver(open_registry(settings), None)))
    png = hostile.png_bytes(hostile.photo_like((300, 300)))
    answer = keyless.post("/v1/matches/byContent", content=png,
                          headers={"Content-Type": "image/png"})
    assert answer.status_code == 503 and "no watermark key" in answer.json()["error"]


def test_same_auth_as_screen(world: dict[str, Any]) -> None:
    client = _client(world, token="s3cret")
    routes = [("get", "/v1/services/supportedAlgorithms"),
              ("get", f"/v1/manifests/{world['made'].manifest_id}"),
              ("get", f"/v1/matches/byBinding?alg={SOFT_BINDING_ALG}&value=AAAAAAAAAAE=")]
    for method, route in routes:
        denied = getattr(client, method)(route)
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert denied.json() == {"error": "missing or invalid bearer token"}
        allowed = getattr(client, method)(route, headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200, route


def test_the_routes_are_in_the_openapi_schema_as_described(world: dict[str, Any]) -> None:
    schema = _client(world).get("/openapi.json").json()
    paths = schema["paths"]
    described = {
        ("/v1/matches/byBinding", "get"): "queryByBinding",
        ("/v1/matches/byBinding", "post"): "queryByLargeBinding",
        ("/v1/matches/byContent", "post"): "uploadFile",
        ("/v1/manifests/{manifestId}", "get"): "getManifestById",
        ("/v1/services/supportedAlgorithms", "get"): "getSupportedBindings",
    }
    for (path, method), operation in described.items():
        assert paths[path][method]["operationId"] == operation
    names = {p["name"] for p in paths["/v1/matches/byBinding"]["get"]["parameters"]}
    assert names == {"alg", "value", "maxResults"}
    content = {p["name"] for p in paths["/v1/matches/byContent"]["post"]["parameters"]}
    assert content == {"alg", "maxResults", "hintAlg", "hintValue"}
    assert "image/*" in paths["/v1/matches/byContent"]["post"]["requestBody"]["content"]
    manifest = paths["/v1/manifests/{manifestId}"]["get"]
    assert {p["name"] for p in manifest["parameters"]} == {"manifestId", "returnActiveManifest"}
    assert "application/c2pa" in manifest["responses"]["200"]["content"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_service(world: dict[str, Any]) -> Iterator[str]:
    """``synthmark serve`` in its own process, over a real socket, with a token."""
    port = _free_port()
    env = {**os.environ, "SYNTHMARK_HOME": str(world["settings"].home), "HF_HUB_OFFLINE": "1",
           "SYNTHMARK_API_TOKEN": "t0ken"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthmark", "serve", "--port", str(port), "--no-detector"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.time() < deadline, "the service did not answer in 60 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_client_from_the_public_description_recovers_a_manifest(
    world: dict[str, Any], live_service: str
) -> None:
    """The client (tests/sbr_client.py) imports nothing of synthmark; the check of what it
    recovered uses c2pa-python, not synthmark either."""
    import c2pa

    made = world["made"]
    client = SoftBindingClient(live_service, token="t0ken")
    algs = [a["alg"] for a in client.supported_algorithms()["watermarks"]]
    stripped = jpeg_copy(Image.open(made.path).convert("RGB"), quality=70)
    [manifest_id] = client.query_by_content(stripped, "image/jpeg")
    assert client.query_by_binding(algs[0], made.soft_binding["value"]) == [manifest_id]
    store = client.get_manifest(manifest_id)
    reader = c2pa.Reader("image/jpeg", io.BytesIO(stripped), store)
    recovered = json.loads(reader.json())
    reader.close()
    assert recovered["active_manifest"] == manifest_id == made.manifest_id
    active = recovered["manifests"][manifest_id]
    assert any(a["label"] == "c2pa.soft-binding" for a in active["assertions"])
    with pytest.raises(ResolutionError) as missing:
        client.get_manifest("urn:c2pa:00000000-0000-0000-0000-000000000000")
    assert missing.value.status == 404
    with pytest.raises(ResolutionError) as denied:
        SoftBindingClient(live_service).supported_algorithms()
    assert denied.value.status == 401


def test_the_client_module_imports_nothing_of_synthmark() -> None:
    import ast

    tree = ast.parse((Path(__file__).parent / "sbr_client.py").read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules == {"__future__", "json", "typing", "urllib.error", "urllib.parse",
                       "urllib.request"}


def test_unconfigured_settings_have_no_manifest_to_serve(tmp_path: Path) -> None:
    resolver = ManifestResolver(open_registry(Settings(home=tmp_path)), None)
    client = TestClient(create_app(ServeConfig(), lambda d, n, lim: {}, resolver))
    answer = client.get("/v1/services/supportedAlgorithms")
    assert answer.json() == {"watermarks": [{"alg": SOFT_BINDING_ALG}], "fingerprints": []}
