"""What one generation run renders: its requests, their seeds and the model's defaults.

>>> plan = RequestPlan(prompt="a lighthouse at dusk", n=2, seed=7)
>>> [(r.seed, r.steps, r.width) for r in plan.requests("tiny")]
[(7, 10, 256), (8, 10, 256)]

A prompts file (:func:`~synthmark.generate.prompts.read_prompts`) gives ``n`` requests per
row; a row's own seed starts its images, else row ``i`` starts at ``seed + i * n``, so that no
two images of a run share a seed unless a row asks for it. Everything is checked here,
before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synthmark.choices import OutputFormat
from synthmark.errors import UsageError
from synthmark.generate.generator import GenerationRequest
from synthmark.generate.prompts import read_prompts
from synthmark.generate.tiny import TINY_MODEL


@dataclass(frozen=True)
class RenderDefaults:
    """Steps and size of a model's images when the user names none."""

    steps: int
    width: int
    height: int


#: The built-in tiny model renders small and fast: it makes test pictures, not art.
TINY_DEFAULTS = RenderDefaults(steps=10, width=256, height=256)
#: Any other model: Stable Diffusion 1.x's native size and a usual step count.
MODEL_DEFAULTS = RenderDefaults(steps=25, width=512, height=512)


def render_defaults(model: str) -> RenderDefaults:
    """:data:`TINY_DEFAULTS` for the built-in ``tiny`` model, else :data:`MODEL_DEFAULTS`."""
    return TINY_DEFAULTS if model == TINY_MODEL else MODEL_DEFAULTS


@dataclass(frozen=True)
class RequestPlan:
    """The prompts and render settings of one run as given; ``None``: the model's default.

    Exactly one of ``prompt`` and ``prompts`` (a prompts file) is given, else
    :class:`~synthmark.errors.UsageError`.
    """

    prompt: str | None = None
    prompts: Path | None = None
    n: int = 1
    seed: int = 0
    negative: str | None = None
    steps: int | None = None
    width: int | None = None
    height: int | None = None
    guidance: float = 7.5

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.prompts is None):
            raise UsageError("give either a PROMPT or --prompts FILE (exactly one)")

    def requests(self, model: str) -> list[GenerationRequest]:
        """``n`` requests per prompt, seeds counting up, each checked.

        Raises:
            UsageError: a bad prompts file, or a request the pipeline would refuse (the
                message names the value).
        """
        defaults = render_defaults(model)
        steps = self.steps or defaults.steps
        width, height = self.width or defaults.width, self.height or defaults.height
        if self.prompts is None:
            rows = [(self.prompt or "", self.negative, self.seed)]
        else:
            rows = [
                (
                    row.prompt,
                    row.negative_prompt or self.negative,
                    row.seed if row.seed is not None else self.seed + index * self.n,
                )
                for index, row in enumerate(read_prompts(self.prompts))
            ]
        requests = [
            GenerationRequest(prompt, negative, first + i, steps, self.guidance, width, height)
            for prompt, negative, first in rows
            for i in range(self.n)
        ]
        for request in requests:
            request.check()
        return requests


def check_public_mark(public_mark: bool, output_format: OutputFormat) -> None:
    """Stable Diffusion's public dwtDct mark does not survive lossy encoding: asking for it
    in another format than PNG is a usage error (it would be claimed but not carried)."""
    if public_mark and output_format is not OutputFormat.png:
        raise UsageError(
            "--public-mark needs --format png: Stable Diffusion's dwtDct mark does not "
            f"survive {output_format.value.upper()} encoding, so it would be claimed but not "
            "carried"
        )


__all__ = [
    "MODEL_DEFAULTS",
    "TINY_DEFAULTS",
    "RenderDefaults",
    "RequestPlan",
    "check_public_mark",
    "render_defaults",
]
