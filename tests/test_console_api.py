"""The console's server side, without a browser: page, CSP, assets, export and record details.

The browser behaviour (cards, details, export, token flow) is in ``test_console.py``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from synthmark.imaging import ImageLimits
from synthmark.screen.export import CSV_HEADER, to_csv, to_jsonl
from synthmark.serve.app import ServeConfig, create_app
from synthmark.serve.console import ASSETS, STATIC

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "synthmark"


def _stub(data: bytes, name: str, limits: ImageLimits) -> dict[str, Any]:
    return {"path": name, "verdict": "no_evidence", "score": 0.0, "reasons": ["none"]}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(ServeConfig(concurrency=3), _stub))


class _Page(HTMLParser):
    """What a CSP-strict page must not contain, and every URL it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.style_elements = 0
        self.inline_attrs: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.inline_attrs.append(f"<{tag} {name}>")
        if tag == "script":
            self._in_script = True
            if not named.get("src"):
                self.inline_scripts += 1
        if tag == "style":
            self.style_elements += 1
        for key in ("src", "href"):
            if named.get(key):
                self.urls.append(str(named[key]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = tag != "script" and self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_page_has_a_strict_csp_and_no_inline_code(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert "unsafe" not in csp and "http" not in csp and "*" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page = _Page()
    page.feed(response.text)
    assert page.inline_scripts == 0 and page.style_elements == 0, "inline code breaks the CSP"
    assert page.inline_attrs == []
    assert 'data-concurrency="3"' in response.text and 'data-auth="none"' in response.text
    # Every URL the page loads is on this origin, and each asset is served with the CSP.
    for url in page.urls:
        assert url.startswith(("/", "#")) and not url.startswith("//"), url
        if url.startswith("/assets/"):
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-security-policy"] == csp


def test_scripts_load_nothing_from_elsewhere() -> None:
    for script in ASSETS.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for url in re.findall(r"https?://[^\s\"'`)]+", text):
            assert url == "http://www.w3.org/2000/svg", f"{script.name} names {url}"
        assert "innerHTML" not in text and "eval(" not in text, script.name
        for module in re.findall(r"from \"([^\"]+)\"", text):
            assert module.startswith("./"), f"{script.name} imports {module}"
    css = (ASSETS / "console.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css and "@font-face" not in css


def test_page_assets_weigh_at_most_200_kb() -> None:
    total = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    assert total <= 200_000, f"the console's assets weigh {total:,} bytes"


def test_assets_are_package_data() -> None:
    """A pip-installed package serves the same files: each matches a package-data glob."""
    import fnmatch

    import tomllib

    config = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["synthmark"]
    for path in STATIC.rglob("*"):
        if path.is_file():
            relative = path.relative_to(PACKAGE).as_posix()
            assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
    assert (PACKAGE / "serve" / "__init__.py").is_file()  # packages.find needs it


def test_unknown_asset_and_traversal_give_404(client: TestClient) -> None:
    assert client.get("/assets/nothing.js").status_code == 404
    assert client.get("/assets/../index.html").status_code == 404
    assert client.get("/assets/%2e%2e/console.py").status_code == 404


def _records() -> list[dict[str, Any]]:
    return [
        {"path": "a.png", "verdict": "synthetic", "score": 1.0, "reasons": ["x", "y, z"]},
        {"path": "b.jpg", "verdict": "no_evidence", "score": 0.0, "reasons": ['"q"']},
        {"path": "broken.png", "error": "cannot decode: not an image"},
        {"path": "ünïcode name.webp", "verdict": "likely_synthetic", "score": 0.85, "reasons": []},
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_what_the_cli_writes(client: TestClient, fmt: str) -> None:
    records = _records()
    # The console sends each record as the exact JSON text the service answered.
    texts = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records]
    response = client.post("/v1/export", json={"format": fmt, "records": texts})
    assert response.status_code == 200
    expected = to_csv(records) if fmt == "csv" else to_jsonl(records)
    assert response.content == expected.encode("utf-8")
    assert f'filename="synthmark-screen.{fmt}"' in response.headers["content-disposition"]
    if fmt == "csv":
        assert response.text.startswith(",".join(CSV_HEADER) + "\r\n")
        assert ",0.0," in response.text  # 0.0 stays a float, as in the CLI's CSV
    else:
        assert json.loads(response.text.splitlines()[1])["score"] == 0.0
        assert '"score": 0.0' in response.text


def test_export_refuses_what_is_not_records(client: TestClient) -> None:
    bad = [
        b"not json",
        json.dumps({"format": "xml", "records": []}).encode(),
        json.dumps({"format": "csv", "records": "x"}).encode(),
        json.dumps({"format": "csv", "records": ["[1, 2]"]}).encode(),
        json.dumps({"format": "csv", "records": [{"path": "not a text"}]}).encode(),
        json.dumps({"format": "csv", "records": ['{"verdict": "synthetic"}']}).encode(),
    ]
    for body in bad:
        response = client.post("/v1/export", content=body)
        assert response.status_code == 400, body
        assert response.json()["error"], body


def test_export_needs_the_token_and_keeps_to_the_size_limit() -> None:
    app = create_app(ServeConfig(token="s3cret", max_bytes=1000), _stub)
    client = TestClient(app)
    body = {"format": "csv", "records": ['{"path": "a", "error": "x"}']}
    assert client.post("/v1/export", json=body).status_code == 401
    ok = client.post("/v1/export", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'data-auth="required"' in page.text
    huge = {"format": "csv", "records": ['{"path": "' + "a" * 2000 + '"}']}
    too_big = client.post("/v1/export", json=huge, headers={"Authorization": "Bearer s3cret"})
    assert too_big.status_code == 413


def test_no_page_loads_scripts_from_a_cdn(client) -> None:
    """Swagger UI and ReDoc fetch their scripts from a CDN, so they are off; the schema stays."""
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert "/v1/screen" in client.get("/openapi.json").json()["paths"]
