"""Model loading: the tiny built-in model, local folders, the hub cache and clear failures."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from synthmark.errors import ModelNotFound, UsageError
from synthmark.generate import GenerationRequest, load_model, read_prompts
from synthmark.generate.generator import Generator

pytestmark = pytest.mark.timeout(60)


def _render(model, seed: int = 3):  # type: ignore[no-untyped-def]
    gen = Generator(
        model,
        marker=None,
        labeller=None,
        registry=None,  # type: ignore[arg-type]
    )
    request = GenerationRequest("a red lighthouse", seed=seed, steps=3, width=64, height=64)
    return np.asarray(gen.render(request))


@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    return load_model("tiny")


def test_tiny_is_seeded_and_deterministic(tiny) -> None:  # type: ignore[no-untyped-def]
    first, again = _render(tiny, 3), _render(tiny, 3)
    assert first.shape == (64, 64, 3)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, _render(tiny, 4))
    assert tiny.model_id == "synthmark/tiny-sd"
    assert tiny.family == "tiny"


def test_a_fresh_tiny_model_gives_the_same_image(tiny) -> None:  # type: ignore[no-untyped-def]
    assert np.array_equal(_render(tiny), _render(load_model("tiny")))


def test_local_diffusers_folder_loads_the_ordinary_way(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tiny.pipeline.save_pretrained(tmp_path / "tiny-sd")
    loaded = load_model(str(tmp_path / "tiny-sd"))
    assert loaded.pipeline_class == "StableDiffusionPipeline"
    assert loaded.source == "folder"
    assert len(loaded.model_hash) == 64
    assert np.array_equal(_render(loaded), _render(tiny))


def test_hub_id_from_the_local_cache(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-sd"
    snapshot = repo / "snapshots" / ("a" * 40)
    tiny.pipeline.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    loaded = load_model("acme/tiny-sd")
    assert loaded.model_id == "acme/tiny-sd"
    assert loaded.source.startswith("hub cache")
    assert np.array_equal(_render(loaded), _render(tiny))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/does/not/exist", "no such file or folder"),
        ("./model.safetensors", "no such file or folder"),
        ("acme/not-cached", "not in the local Hugging Face cache"),
        ("", "empty"),
    ],
)
def test_unavailable_models_fail_fast_with_a_hint(spec: str, message: str) -> None:
    start = time.monotonic()
    with pytest.raises((ModelNotFound, UsageError), match=message) as info:
        load_model(spec)
    assert time.monotonic() - start < 5  # never the hub's 47-second retry loop
    if isinstance(info.value, ModelNotFound):
        assert "--model tiny" in str(info.value)


def test_folder_without_model_index_and_bad_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"model_index\.json"):
        load_model(str(tmp_path))
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelNotFound, match="not a readable Stable Diffusion checkpoint"):
        load_model(str(bogus))


def test_request_validation_names_the_bad_value() -> None:
    with pytest.raises(UsageError, match="height must be a positive multiple of 8, got 500"):
        GenerationRequest("x", height=500).check()
    with pytest.raises(UsageError, match="prompt is empty"):
        GenerationRequest("  ").check()


def test_prompts_files(tmp_path: Path) -> None:
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\na cat\n\na dog\n")
    assert [r.prompt for r in read_prompts(txt)] == ["a cat", "a dog"]
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("prompt,seed,negative_prompt\na cat,7,blurry\na dog,,\n")
    rows = read_prompts(csv_file)
    assert (rows[0].seed, rows[0].negative_prompt, rows[1].seed) == (7, "blurry", None)
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a cat", "seed": 3, "negative": "ugly"}\n\n{"prompt": "x"}\n')
    rows = read_prompts(jsonl)
    assert (rows[0].seed, rows[0].negative_prompt, len(rows)) == (3, "ugly", 2)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"seed": "x"}\n')
    with pytest.raises(UsageError, match=r"bad.jsonl:2: missing or empty 'prompt'"):
        read_prompts(bad)
    with pytest.raises(UsageError, match="seed must be an integer"):
        (tmp_path / "s.csv").write_text("prompt,seed\na,abc\n")
        read_prompts(tmp_path / "s.csv")
