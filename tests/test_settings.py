"""Settings: every ``SYNTHMARK_*`` variable read in one place, into one object."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.settings import ENVIRONMENT, Settings


def test_every_variable_lands_in_its_field() -> None:
    env = {
        "SYNTHMARK_HOME": "/srv/sm",
        "SYNTHMARK_REGISTRY": "postgresql://u:pw@db/sm",
        "SYNTHMARK_WATERMARK_KEY": "/keys/wm.key",
        "SYNTHMARK_C2PA_CERT": "/keys/chain.pem",
        "SYNTHMARK_C2PA_KEY": "/keys/signer.key",
        "SYNTHMARK_C2PA_TSA_URL": "http://tsa.example/",
        "SYNTHMARK_PROVIDER": "Acme Studio",
        "SYNTHMARK_API_TOKEN": "s3cret",
        "SYNTHMARK_MODELS": "~/weights",
        "HF_HUB_OFFLINE": "1",
        "SYNTHMARK_REGEN_WEIGHTS": "/weights/taef2",
        "SYNTHMARK_ON_FAILURE": "save-unlabelled",
    }
    assert set(env) == set(ENVIRONMENT)
    settings = Settings.from_env(environ=env)
    assert settings.home == Path("/srv/sm")
    assert (settings.registry_url, settings.watermark_key_file) == (
        "postgresql://u:pw@db/sm", "/keys/wm.key"
    )
    assert (settings.c2pa_cert, settings.c2pa_key, settings.tsa_url) == (
        "/keys/chain.pem", "/keys/signer.key", "http://tsa.example/"
    )
    assert (settings.provider, settings.api_token) == ("Acme Studio", "s3cret")
    assert settings.pretrained_dir == Path("~/weights").expanduser() and settings.offline
    assert (settings.regen_weights, settings.on_failure) == (
        Path("/weights/taef2"), "save-unlabelled"
    )
    assert "pw" not in repr(settings) and "s3cret" not in repr(settings)


def test_an_explicit_home_wins_and_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env("/elsewhere", {"SYNTHMARK_HOME": "/srv", "SYNTHMARK_PROVIDER": ""})
    assert settings.home == Path("/elsewhere") and settings.provider is None


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHMARK_PROVIDER", "Acme")
    assert Settings.from_env().provider == "Acme"


def test_entropy_is_injected_not_compared() -> None:
    fixed = Settings(home=Path("/h"), entropy=lambda n: b"\0" * n)
    assert fixed.entropy(4) == b"\0" * 4
    assert fixed == Settings(home=Path("/h"))
    assert len(Settings().entropy(32)) == 32
