"""The watermark key (:mod:`synthmark.watermark.keys`): a private file, never skipped when
named, rotation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from synthmark.errors import KeyMissing, UsageError
from synthmark.settings import Settings
from synthmark.watermark.keys import create_key, key_id, load_key


def test_key_file_is_private_and_round_trips(synthmark_home: Path) -> None:
    settings = Settings.from_env()
    key = create_key(settings)
    path = settings.keys_dir / "watermark.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keys_dir.stat().st_mode) == 0o700
    assert load_key(settings) == key and len(key) == 32
    assert key.hex() not in key_id(key)


def test_existing_key_is_not_replaced_without_force(synthmark_home: Path) -> None:
    settings = Settings.from_env()
    key = create_key(settings)
    with pytest.raises(UsageError, match="already exists") as info:
        create_key(settings)
    assert "pass --force (force=True in Python)" in str(info.value)
    assert load_key(settings) == key
    assert create_key(settings, force=True) != key


def test_missing_or_garbage_key_raises_key_missing(tmp_path: Path, synthmark_home: Path) -> None:
    settings = Settings.from_env()
    with pytest.raises(KeyMissing, match="synthmark watermark keygen"):
        load_key(settings)
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    with pytest.raises(KeyMissing, match="not a synthmark watermark key"):
        load_key(settings, garbage)


def test_key_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere" / "wm.key"
    monkeypatch.setenv("SYNTHMARK_WATERMARK_KEY", str(path))
    key = create_key(Settings.from_env())
    assert path.exists() and load_key(Settings.from_env()) == key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_find_key_is_none_only_when_no_key_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthmark.watermark.keys import KEY_ENV, find_key

    monkeypatch.delenv(KEY_ENV, raising=False)
    settings = Settings.from_env(tmp_path / "home")
    assert find_key(settings) is None
    with pytest.raises(KeyMissing, match=r"nonexist\.key"):
        find_key(settings, tmp_path / "nonexist.key")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "nonexist.key"))
    with pytest.raises(KeyMissing, match=r"nonexist\.key"):
        find_key(Settings.from_env(tmp_path / "home"))
    monkeypatch.delenv(KEY_ENV)
    key = create_key(settings)
    assert find_key(settings) == key
    settings.keys_dir.joinpath("watermark.key").write_text("garbage\n")
    with pytest.raises(KeyMissing, match="not a synthmark watermark key"):
        find_key(settings)
