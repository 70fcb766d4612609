"""Shared fixtures: every test runs offline, with its own temporary synthmark home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# A failed hub lookup retries for ~47 s; tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Pretrained weights (the detector's MobileNetV2), as the Makefile exports them; tests that
# need them fail when the folder is missing.
os.environ.setdefault("SYNTHMARK_MODELS", str(SHARED_DATA.parent / "models"))

# pg_server / pg_url: a throwaway PostgreSQL server for the registry tests; the watermark
# tests' images (photo, marked, ...).
pytest_plugins = ("tests.pg_server", "tests.watermark_images", "tests.detect_images")

#: Fixtures that need a system program, and the marker a test using them must carry, so
#: that the default run (``pytest``) needs none of them and ``make test`` runs them all.
_NEEDS_MARKER = {"pg_server": "postgres", "pg_url": "postgres", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test that uses a server or browser fixture without its marker."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, marker in _NEEDS_MARKER.items():
            if fixture in names and item.get_closest_marker(marker) is None:
                raise pytest.UsageError(
                    f"{item.nodeid} uses the {fixture} fixture: mark it @pytest.mark.{marker}"
                )


@pytest.fixture(autouse=True, scope="session")
def reproducible_watermark_keys() -> Iterator[None]:
    """Watermark keys made in tests derive from the test's id, not from the OS's randomness.

    A tiny-model picture whose mark does not read back is refused by design (about 1 in 200
    at 256 px, depending on the key); with random keys that made a test fail at random.
    Now a given test gets the same keys on every run, so it passes or fails every time.
    """
    import hashlib
    import secrets

    from synthmark.watermark import keys

    made: dict[str, int] = {}

    class _Secrets:
        token_hex = staticmethod(secrets.token_hex)  # temporary file names stay random

        @staticmethod
        def token_bytes(n: int) -> bytes:
            test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
            made[test] = made.get(test, 0) + 1
            return hashlib.sha256(f"{test}#{made[test]}".encode()).digest()[:n]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "secrets", _Secrets)
        yield


@pytest.fixture(autouse=True)
def synthmark_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point SYNTHMARK_HOME at a fresh temporary folder for each test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("SYNTHMARK_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("SYNTHMARK_REGISTRY", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared data folder (real photos, SD images, C2PA files).

    In CI the folder must be present: a missing data set fails, it does not skip.
    """
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
