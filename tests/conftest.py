"""Shared fixtures: every test runs offline, with its own temporary synthmark home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# A failed hub lookup retries for ~47 s; tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# pg_server / pg_url: a throwaway PostgreSQL server for the registry tests.
pytest_plugins = ("tests.pg_server",)


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
