"""A run's requests (``synthmark.generate.plan``): seeds, prompts files and model defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.choices import OutputFormat
from synthmark.errors import UsageError
from synthmark.generate.plan import (
    MODEL_DEFAULTS,
    TINY_DEFAULTS,
    RequestPlan,
    check_public_mark,
    render_defaults,
)


def test_one_prompt_gives_n_requests_with_consecutive_seeds() -> None:
    requests = RequestPlan(prompt="a cat", n=3, seed=5, negative="blurry").requests("tiny")
    assert [(r.prompt, r.negative_prompt, r.seed) for r in requests] == [
        ("a cat", "blurry", 5), ("a cat", "blurry", 6), ("a cat", "blurry", 7)
    ]


def test_the_tiny_model_renders_small_and_fast_unless_told_otherwise() -> None:
    assert render_defaults("tiny") == TINY_DEFAULTS
    assert render_defaults("./sd15") == MODEL_DEFAULTS
    tiny = RequestPlan(prompt="x").requests("tiny")[0]
    assert (tiny.steps, tiny.width, tiny.height) == (10, 256, 256)
    full = RequestPlan(prompt="x", steps=3, width=320).requests("./sd15")[0]
    assert (full.steps, full.width, full.height, full.guidance) == (3, 320, 512, 7.5)


def test_a_prompts_file_row_starts_at_its_own_seed_or_at_seed_plus_its_index(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "prompts.csv"
    rows.write_text("prompt,seed,negative_prompt\na cat,,\na dog,100,ugly\na fox,,\n")
    requests = RequestPlan(prompts=rows, n=2, seed=10, negative="dull").requests("tiny")
    assert [(r.prompt, r.seed, r.negative_prompt) for r in requests] == [
        ("a cat", 10, "dull"), ("a cat", 11, "dull"),
        ("a dog", 100, "ugly"), ("a dog", 101, "ugly"),
        ("a fox", 14, "dull"), ("a fox", 15, "dull"),
    ]


def test_exactly_one_prompt_source() -> None:
    with pytest.raises(UsageError, match="exactly one"):
        RequestPlan()
    with pytest.raises(UsageError, match="exactly one"):
        RequestPlan(prompt="x", prompts=Path("p.txt"))


def test_a_request_the_pipeline_would_refuse_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="width must be a positive multiple of 8, got 100"):
        RequestPlan(prompt="x", width=100).requests("tiny")
    with pytest.raises(UsageError, match="prompt is empty"):
        RequestPlan(prompt="  ").requests("tiny")


def test_the_public_mark_needs_png() -> None:
    check_public_mark(True, OutputFormat.png)
    check_public_mark(False, OutputFormat.jpeg)
    with pytest.raises(UsageError, match="--public-mark needs --format png"):
        check_public_mark(True, OutputFormat.webp)
