"""Debian's headless Chromium through Selenium, offline, for the console's tests and benchmark.

Selenium Manager never goes online (``SE_OFFLINE``), the driver and the browser are named
explicitly, and the flags turn off Chromium's own background traffic. The performance log
records DevTools network events, so a caller can check where the page sent requests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium(profile: Path, *, downloads: Path | None = None, size: str = "1280,1400") -> Any:
    """A headless Chromium with a fresh profile, on ``about:blank``; downloads (if given) go
    to ``downloads`` without a prompt."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={size}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option(
            "prefs",
            {"download.default_directory": str(downloads), "download.prompt_for_download": False},
        )
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads is not None:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
    driver.get("about:blank")  # leave the new-tab page, whose chrome:// loads are logged too
    return driver


def network_events(driver: Any) -> list[dict[str, Any]]:
    """DevTools ``Network.*`` events from the performance log since the last call."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events


def requested_urls(events: list[dict[str, Any]]) -> list[str]:
    """The URL of every request in ``events``."""
    return [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]


def is_network(url: str) -> bool:
    """True for a URL that goes over the network (not data:, blob: or the browser's own
    chrome:// pages)."""
    return url.split(":", 1)[0].lower() in ("http", "https", "ws", "wss", "ftp")


def elsewhere(urls: list[str], origin: str) -> list[str]:
    """The URLs among ``urls`` that go over the network to anything but ``origin``."""
    return [u for u in urls if is_network(u) and not u.startswith(origin + "/")]
