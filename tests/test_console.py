"""The moderator's console in a real browser: Debian's headless Chromium through Selenium.

One service (the screener ``synthmark serve`` builds, on a home with keys and a registry)
and one browser serve the module. Selenium runs offline (``tests/browser.py``), and after
every test the browser's network log must show requests to the local service only.
Screenshots go to ``build/test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from synthmark.cli.main import app as cli
from synthmark.imaging import ImageLimits
from synthmark.samples import sample_photos
from synthmark.screen.assemble import ScreenerSpec, build_screener
from synthmark.serve.app import ScreenFn, ServeConfig, create_app
from synthmark.settings import Settings
from tests.browser import chromium, elsewhere, network_events, requested_urls

pytestmark = [pytest.mark.timeout(300), pytest.mark.browser]

ARTIFACTS = Path(os.environ.get("SYNTHMARK_TEST_ARTIFACTS", "build/test-artifacts"))
C2PA_FILES = {
    "ocsp.jpg": "sdk/tests/fixtures/ocsp.jpg",  # Adobe-signed, AI source types, 2 manifests
    "CACAE-uri-CA.jpg": "sdk/tests/fixtures/CACAE-uri-CA.jpg",  # a chain of 3 manifests
    "E-sig-CA.jpg": "sdk/tests/fixtures/E-sig-CA.jpg",  # fails validation
}


@dataclass
class Corpus:
    home: Path
    folder: Path
    names: list[str]  # upload order
    serial: int  # of the generated image (and so of its stripped copy)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Corpus:
    """A generated image, a stripped copy, a photo, shared C2PA files and a corrupt file."""
    home = tmp_path_factory.mktemp("console-home")
    folder = tmp_path_factory.mktemp("console-files")
    env = {"SYNTHMARK_HOME": str(home)}
    made = CliRunner().invoke(
        cli,
        ["generate", "a pear", "--steps", "2", "--include-prompt", "-o", str(folder / "gen"),
         "--json"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    generated = json.loads(next(line for line in made.stdout.splitlines() if line.startswith("{")))
    shutil.copyfile(generated["path"], folder / "generated.png")
    with Image.open(generated["path"]) as im:  # the pixels only: the watermark must carry it
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=90)
    (folder / "stripped.jpg").write_bytes(buf.getvalue())
    shutil.rmtree(folder / "gen")
    photo = sample_photos()[0]
    shutil.copyfile(photo, folder / f"photo{photo.suffix}")
    for name, relative in C2PA_FILES.items():
        shutil.copyfile(shared_data / "provenance" / "c2pa" / relative, folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    names = ["generated.png", "stripped.jpg", f"photo{photo.suffix}", *C2PA_FILES, "broken.png"]
    return Corpus(home, folder, names, generated["serial"])


def _service_screen(home: Path) -> ScreenFn:
    """The screening function ``synthmark serve`` builds for this home."""
    previous = os.environ.get("SYNTHMARK_HOME")
    os.environ["SYNTHMARK_HOME"] = str(home)
    try:
        screener = build_screener(ScreenerSpec.from_settings(Settings.from_env()))
    finally:
        if previous is not None:
            os.environ["SYNTHMARK_HOME"] = previous
    _ = screener.detector
    return lambda data, name, limits: screener.screen_bytes(data, name)


@contextlib.contextmanager
def _serve(config: ServeConfig, screen: ScreenFn) -> Iterator[str]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(config, screen), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def screen_fn(corpus: Corpus) -> ScreenFn:
    return _service_screen(corpus.home)


@pytest.fixture(scope="module")
def service(screen_fn: ScreenFn) -> Iterator[str]:
    with _serve(ServeConfig(concurrency=2), screen_fn) as url:
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[Any]:
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"), downloads=downloads)
    try:
        yield driver
    finally:
        driver.quit()


def _remote_hosts(driver: Any) -> set[str]:
    """Non-loopback addresses the browser's processes hold connections to, right now."""
    import psutil

    hosts = set()
    root = psutil.Process(driver.service.process.pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="inet"):
                if conn.raddr and conn.raddr.ip not in ("127.0.0.1", "::1"):
                    hosts.add(conn.raddr.ip)
    return hosts


@contextlib.contextmanager
def _open(driver: Any, url: str) -> Iterator[list[dict[str, Any]]]:
    """Open the console at ``url``; afterwards, every request must have gone to ``url``."""
    network_events(driver)  # drop what earlier tests left
    driver.get(url + "/")
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.body.dataset.ready === 'true'")
    )
    events: list[dict[str, Any]] = []
    yield events
    events.extend(network_events(driver))
    urls = requested_urls(events)
    assert urls, "the performance log recorded no request"
    assert elsewhere(urls, url) == [], f"requests to other hosts: {elsewhere(urls, url)}"
    assert _remote_hosts(driver) == set()
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert all("Failed to load resource" in e["message"] for e in severe), severe


def _choose(driver: Any, paths: list[Path]) -> None:
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))


def _wait_answered(driver: Any, n: int, timeout: float = 120) -> None:
    script = (
        "return document.querySelectorAll('.card').length === arguments[0] && "
        "!document.querySelector('.card[data-verdict=pending]')"
    )
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script, n))


def _card(driver: Any, name: str) -> Any:
    return driver.find_element(By.XPATH, f"//li[contains(@class, 'card')][.//h3[text()='{name}']]")


def _expand(driver: Any, card: Any) -> None:
    summary = card.find_element(By.CSS_SELECTOR, "details.more > summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", summary)
    summary.click()  # the sections are built on the first "toggle" event
    WebDriverWait(driver, 10).until(lambda _: card.find_elements(By.CSS_SELECTOR, "details.layer"))


def _shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000


def _cli(corpus: Corpus, *args: str) -> bytes:
    """``synthmark screen NAMES... ARGS`` run in the corpus folder, as a user would."""
    previous = Path.cwd()
    os.chdir(corpus.folder)
    try:
        result = CliRunner().invoke(
            cli, ["screen", *corpus.names, *args], env={"SYNTHMARK_HOME": str(corpus.home)}
        )
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def _download(folder: Path, suffix: str, timeout: float = 20) -> bytes:
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        if done:
            data = done[0].read_bytes()
            done[0].unlink()
            return data
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} download in {timeout} s")


def test_empty_page_is_labelled_keyboard_usable_and_themed(browser: Any, service: str) -> None:
    with _open(browser, service):
        for control in browser.find_elements(By.CSS_SELECTOR, "input, select, button"):
            assert control.accessible_name.strip(), control.get_attribute("outerHTML")
        _shot(browser, "console_empty.png")
        reached = []
        for _ in range(12):  # keys to the page, as a person presses them
            ActionChains(browser).send_keys(Keys.TAB).perform()
            reached.append(browser.switch_to.active_element.get_attribute("id"))
        assert {"token", "files", "filter", "sort"} <= set(reached), reached
        light = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
        )
        dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        _shot(browser, "console_empty_dark.png")
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        assert light != dark


def test_a_batch_gives_one_card_per_file_and_exports_what_the_cli_writes(
    browser: Any, service: str, corpus: Corpus, downloads: Path
) -> None:
    cli_json = _cli(corpus, "--json")
    cli_csv = _cli(corpus, "--csv")
    expected = {r["path"]: r for r in map(json.loads, cli_json.decode().splitlines())}
    with _open(browser, service):
        _choose(browser, [corpus.folder / n for n in corpus.names])
        _wait_answered(browser, len(corpus.names))
        assert "answered in" in browser.find_element(By.ID, "progress-text").text
        for name in corpus.names:
            card = _card(browser, name)
            record = expected[name]
            verdict = record.get("verdict", "error")
            assert card.get_attribute("data-verdict") == verdict, name
            badge = card.find_element(By.CSS_SELECTOR, ".badge")
            assert badge.find_elements(By.CSS_SELECTOR, "svg.icon"), name  # icon and word
            words = {"synthetic": "Synthetic", "likely_synthetic": "Likely synthetic",
                     "no_evidence": "No evidence", "error": "Error"}
            assert badge.text == words[verdict], name
            if "error" in record:
                assert record["error"] in card.text
            else:
                first_reason = card.find_element(By.CSS_SELECTOR, ".reasons li").text
                assert first_reason == record["reasons"][0]
                assert f"Score {record['score']:.2f}" in card.text
        thumb = _card(browser, "generated.png").find_element(By.CSS_SELECTOR, ".thumb img")
        assert thumb.get_attribute("src").startswith("blob:")
        assert browser.execute_script("return arguments[0].naturalWidth", thumb) > 0
        assert _card(browser, "generated.png").get_attribute("data-verdict") == "synthetic"
        assert _card(browser, "stripped.jpg").get_attribute("data-verdict") == "synthetic"
        assert _card(browser, "broken.png").get_attribute("data-verdict") == "error"
        _shot(browser, "console_results.png")
        browser.find_element(By.ID, "export-jsonl").click()
        assert _download(downloads, ".jsonl") == cli_json
        browser.find_element(By.ID, "export-csv").click()
        assert _download(downloads, ".csv") == cli_csv


def _ours(layer: Any) -> Any:
    """The row of synthmark's own mark in a watermark table."""
    return layer.find_element(By.CSS_SELECTOR, "tr[data-scheme=synthmark]")


def _layer(card: Any, kind: str) -> Any:
    return card.find_element(By.CSS_SELECTOR, f"details.layer.{kind}")


def test_layer_details_show_signer_serial_and_ingredient_chain(
    browser: Any, service: str, corpus: Corpus
) -> None:
    names = ["generated.png", "stripped.jpg", "ocsp.jpg", "CACAE-uri-CA.jpg", "E-sig-CA.jpg"]
    with _open(browser, service):
        _choose(browser, [corpus.folder / n for n in names])
        _wait_answered(browser, len(names))
        generated = _card(browser, "generated.png")
        _expand(browser, generated)
        c2pa = _layer(generated, "c2pa")
        assert "C2PA Content Credentials: Trusted" in c2pa.text
        assert "synthmark signer" in c2pa.text and "c2pa.created" in c2pa.text
        serial = str(corpus.serial)
        row = _ours(_layer(generated, "watermarks"))
        assert row.find_element(By.CSS_SELECTOR, ".serial").text == serial
        assert "present" in row.text
        assert "Registry record" in _layer(generated, "watermarks").text
        assert "Seed" in _layer(generated, "metadata").text
        bar = _layer(generated, "detector").find_element(By.CSS_SELECTOR, ".bar .fill")
        assert bar.get_attribute("style").startswith("width:")
        _shot(browser, "console_expanded.png")

        stripped = _card(browser, "stripped.jpg")
        _expand(browser, stripped)
        recovered = _layer(stripped, "c2pa").text  # the manifest, found through the mark
        assert "C2PA Content Credentials: Trusted, recovered from the registry" in recovered
        assert "does not match this copy" in recovered
        row = _ours(_layer(stripped, "watermarks"))
        assert row.find_element(By.CSS_SELECTOR, ".serial").text == str(corpus.serial)

        adobe = _card(browser, "ocsp.jpg")
        _expand(browser, adobe)
        text = _layer(adobe, "c2pa").text
        assert "Adobe C2PA / Adobe Inc." in text and "compositeWithTrainedAlgorithmicMedia" in text
        assert len(adobe.find_elements(By.CSS_SELECTOR, ".tree li")) == 2
        chain = _card(browser, "CACAE-uri-CA.jpg")
        _expand(browser, chain)
        assert len(chain.find_elements(By.CSS_SELECTOR, ".tree li")) == 3
        assert len(chain.find_elements(By.CSS_SELECTOR, ".tree li li li")) == 1  # 3 deep
        tampered = _card(browser, "E-sig-CA.jpg")
        _expand(browser, tampered)
        assert "claimSignature.mismatch" in _layer(tampered, "c2pa").text


def test_drop_filter_and_sort(browser: Any, service: str, corpus: Corpus) -> None:
    names = ["broken.png", "generated.png", corpus.names[2]]
    with _open(browser, service):
        # Files reach the page through a real drop event carrying a DataTransfer of Files.
        browser.execute_script(
            "const i = document.createElement('input'); i.type = 'file'; i.multiple = true;"
            "i.id = 'dnd-source'; document.body.append(i);"
        )
        browser.find_element(By.ID, "dnd-source").send_keys(
            "\n".join(str(corpus.folder / n) for n in names)
        )
        browser.execute_script(
            "const dt = new DataTransfer();"
            "for (const f of document.getElementById('dnd-source').files) dt.items.add(f);"
            "const zone = document.getElementById('drop');"
            "for (const type of ['dragenter', 'dragover', 'drop']) {"
            "  zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,"
            "    dataTransfer: dt}));"
            "}"
        )
        _wait_answered(browser, len(names))

        def shown() -> list[str]:
            cards = browser.find_elements(By.CSS_SELECTOR, "#results .card")
            return [c.find_element(By.CSS_SELECTOR, "h3").text for c in cards if c.is_displayed()]

        assert shown() == names  # upload order
        Select(browser.find_element(By.ID, "sort")).select_by_value("suspicious")
        order = shown()
        assert order[0] == "generated.png" and order[-1] == "broken.png"
        Select(browser.find_element(By.ID, "filter")).select_by_value("synthetic")
        assert shown() == ["generated.png"]
        assert "1 record shown" in browser.find_element(By.ID, "export-count").text
        Select(browser.find_element(By.ID, "filter")).select_by_value("error")
        assert shown() == ["broken.png"]


def test_token_flow(browser: Any, screen_fn: ScreenFn, corpus: Corpus) -> None:
    photo = corpus.folder / corpus.names[2]
    with _serve(ServeConfig(token="s3cret-token"), screen_fn) as url, _open(browser, url) as events:
        assert "needs an API token" in browser.find_element(By.ID, "token-state").text
        _choose(browser, [photo])
        _wait_answered(browser, 1)
        card = _card(browser, photo.name)
        assert card.get_attribute("data-verdict") == "error"
        assert "bearer token" in card.text
        browser.find_element(By.ID, "token").send_keys("s3cret-token")
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        _wait_answered(browser, 1)
        assert card.get_attribute("data-verdict") in ("no_evidence", "likely_synthetic")
        events.extend(network_events(browser))
        statuses = [
            e["params"]["response"]["status"]
            for e in events
            if e["method"] == "Network.responseReceived"
            and e["params"]["response"]["url"] == url + "/v1/screen"
        ]
        assert statuses == [401, 200]
        assert "s3cret" not in browser.current_url
        stored = browser.execute_script(
            "return [sessionStorage.getItem('synthmark.token'), localStorage.length]"
        )
        assert stored == ["s3cret-token", 0]
        browser.find_element(By.ID, "forget-token").click()
        assert browser.execute_script("return sessionStorage.length") == 0


def _with_future_fields(screen: ScreenFn) -> ScreenFn:
    """Records as the service will send them once other layers add fields: the registry's
    attribution of our mark, a manifest recovered from the registry, a detector that
    abstains; and one record whose layers have shapes the console does not know."""
    def screen_more(data: bytes, name: str, limits: ImageLimits) -> dict[str, Any]:
        record = screen(data, name, limits)
        layers = record.get("layers")
        if name == "odd.png" and layers is not None:
            record["layers"] = {"c2pa": "weird", "watermarks": [1, 2], "detector": 5, "xmp": None}
        elif layers is not None:
            layers["watermarks"]["synthmark"]["attribution"] = "copied"
            layers["c2pa"].update(recovered=True, present=True)
            layers["detector"] = {"abstained": True, "reason": "the image is flat", "model": "m"}
        return record

    return screen_more


def test_cards_show_fields_other_layers_add_and_survive_odd_shapes(
    browser: Any, screen_fn: ScreenFn, corpus: Corpus, tmp_path: Path
) -> None:
    odd = tmp_path / "odd.png"
    shutil.copyfile(corpus.folder / corpus.names[2], odd)
    files = [corpus.folder / "stripped.jpg", odd]
    with _serve(ServeConfig(), _with_future_fields(screen_fn)) as url, _open(browser, url):
        _choose(browser, files)
        _wait_answered(browser, 2)
        card = _card(browser, "stripped.jpg")
        _expand(browser, card)
        assert "copied: a genuine serial" in _layer(card, "watermarks").text
        assert "Recovered from the registry" in _layer(card, "c2pa").text
        assert "did not score this image: the image is flat" in _layer(card, "detector").text
        weird = _card(browser, "odd.png")
        _expand(browser, weird)
        sections = weird.find_elements(By.CSS_SELECTOR, "details.layer")
        assert len(sections) == 6
        assert "Detector: not run" in weird.text


def test_records_carry_the_details_the_console_shows(screen_fn: ScreenFn, corpus: Corpus) -> None:
    """The library adds details under new keys only; the registry record keeps no prompt."""
    limits = ImageLimits()
    record = screen_fn((corpus.folder / "generated.png").read_bytes(), "generated.png", limits)
    layers = record["layers"]
    c2pa = layers["c2pa"]
    assert {"present", "validation_state", "digital_source_types", "claim_generator"} <= set(c2pa)
    assert c2pa["signer"] == "synthmark signer / synthmark"
    assert c2pa["actions"][0]["action"] == "c2pa.created"
    assert c2pa["manifests"][0]["label"] == c2pa["manifest_id"]
    mark = layers["watermarks"]["synthmark"]
    assert mark["serial"] == corpus.serial
    assert {"status", "payload", "p_value"} <= set(mark) and "details" not in mark
    assert int(mark["payload"], 16) == mark["serial"]
    assert layers["registry_record"]["serial"] == mark["serial"]
    # generated with --include-prompt: the registry keeps the prompt, the record does not
    assert "a pear" not in json.dumps(layers["registry_record"])
    assert layers["registry_record"]["prompt_hash"]
    assert "seed" in layers["generators"][0]["fields"]
    assert layers["xmp"]["present"] is True
    chain = screen_fn((corpus.folder / "CACAE-uri-CA.jpg").read_bytes(), "c.jpg", limits)
    manifests = chain["layers"]["c2pa"]["manifests"]
    assert len(manifests) == 3 and manifests[0]["ingredients"]


def test_limits_apply_per_file_and_the_rest_go_on(
    browser: Any, screen_fn: ScreenFn, corpus: Corpus, tmp_path: Path
) -> None:
    import numpy as np

    big = tmp_path / "big.png"
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big)
    small = corpus.folder / "stripped.jpg"
    limit = 150_000
    assert small.stat().st_size < limit < big.stat().st_size
    with _serve(ServeConfig(max_bytes=limit), screen_fn) as url, _open(browser, url):
        _choose(browser, [big, small])
        _wait_answered(browser, 2)
        refused = _card(browser, "big.png")
        assert refused.get_attribute("data-verdict") == "error"
        assert f"over the limit of {limit:,} bytes" in refused.text
        assert _card(browser, "stripped.jpg").get_attribute("data-verdict") == "synthetic"
        # a per-file error is a record, exported as the CLI writes one
        assert "2 records shown" in browser.find_element(By.ID, "export-count").text
