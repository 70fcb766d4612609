"""The :class:`Generator`: text-to-image whose every output is marked, labelled and registered.

For each image: the pipeline renders the picture, then
:meth:`synthmark.labelling.Labelling.label` (the step every face shares) reserves a serial,
embeds the watermark carrying it and checks it reads back, applies XMP, the A1111
``parameters`` and the signed C2PA manifest, keeps the manifest store and the record in the
registry, and writes the file atomically.

If any step fails, the serial is abandoned, no file appears under the output name, and a
:class:`~synthmark.errors.SynthmarkError` says what failed. Parts are injected, so each can
be replaced by a fake in tests (``Generator(model, marker, labeller, registry)``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from synthmark import __version__
from synthmark.choices import OutputFormat
from synthmark.errors import (
    ContentBlocked,
    SynthmarkError,
    UsageError,
    WatermarkError,
)
from synthmark.generate.models import ModelHandle
from synthmark.labelling import GenerationInfo, Labelling, serial_payload

if TYPE_CHECKING:  # the parts' types; fakes in tests need only the same methods
    from synthmark.labels import Labeller
    from synthmark.registry import Registry
    from synthmark.watermark import WatermarkScheme as Marker


#: Scheduler names accepted by ``--scheduler`` -> (diffusers class, A1111 sampler name).
SCHEDULERS: dict[str, tuple[str, str]] = {
    "ddim": ("DDIMScheduler", "DDIM"),
    "pndm": ("PNDMScheduler", "PLMS"),
    "euler": ("EulerDiscreteScheduler", "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", "Euler a"),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", "DPM++ 2M"),
    "lms": ("LMSDiscreteScheduler", "LMS"),
    "heun": ("HeunDiscreteScheduler", "Heun"),
    "unipc": ("UniPCMultistepScheduler", "UniPC"),
}


@dataclass(frozen=True)
class GenerationRequest:
    """One image to render."""

    prompt: str
    negative_prompt: str | None = None
    seed: int = 0
    steps: int = 25
    guidance: float = 7.5
    width: int = 512
    height: int = 512

    def check(self, multiple: int = 8) -> None:
        """Raise :class:`UsageError` for values the pipeline would reject or mangle."""
        if not self.prompt or not self.prompt.strip():
            raise UsageError("prompt is empty")
        for name, value in (("width", self.width), ("height", self.height)):
            if value < multiple or value % multiple:
                raise UsageError(f"{name} must be a positive multiple of {multiple}, got {value}")
            if value > 4096:
                raise UsageError(f"{name} must be at most 4096, got {value}")
        if self.steps < 1 or self.steps > 1000:
            raise UsageError(f"steps must be between 1 and 1000, got {self.steps}")
        if not 0 <= self.seed < 2**64:
            raise UsageError(f"seed must be between 0 and 2**64-1, got {self.seed}")
        if self.guidance < 0:
            raise UsageError(f"guidance must be >= 0, got {self.guidance}")


@dataclass
class GenerationResult:
    """What was made, where it went, and how it can be traced."""

    path: Path
    serial: int
    seed: int
    width: int
    height: int
    format: str
    model_id: str
    sha256: str
    manifest_id: str | None
    watermark_scheme: str
    created: str
    render_seconds: float
    marking_seconds: float
    public_mark: str | None = None
    stages: dict[str, float] = field(default_factory=dict)


ProgressFn = Callable[[str, int, int], None]


def check_sizes(
    requests: Iterable[GenerationRequest], markers: Iterable[Marker | None], multiple: int = 8
) -> None:
    """Raise :class:`UsageError` for a request the pipeline would reject, or whose image
    would be too small for a watermark to carry: before any rendering, so that no model time
    and no registry serial is spent on it."""
    need = max((int(getattr(m, "min_side", 0)) for m in markers if m is not None), default=0)
    for request in requests:
        request.check(multiple)
        if min(request.width, request.height) < need:
            name = next(m.name for m in markers if m is not None and m.min_side == need)
            raise UsageError(
                f"{request.width}x{request.height} is too small: watermark scheme {name!r} "
                f"needs at least {need} px on the short side (--width/--height)"
            )


def check_output_folder(folder: str | Path) -> None:
    """Raise :class:`SynthmarkError` unless images can be written to ``folder``: it is a
    writable folder, or its nearest existing parent is one (nothing is created here)."""
    target = Path(folder)
    probe = target
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == target else f" ({probe} is a file)"
        raise SynthmarkError(f"output path {target} is not a folder{where}; choose another -o")
    try:  # probe: permission bits do not bind root, read-only mounts bind everyone
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise SynthmarkError(
            f"output folder {target} is not writable ({exc.strerror}); choose another -o"
        ) from None


def generation_info(
    request: GenerationRequest, sampler: str, model: ModelHandle
) -> GenerationInfo:
    """What made one image, for its labels (the prompts are here; the labeller and the
    registry keep them only on opt-in)."""
    import diffusers

    return GenerationInfo(
        model=model.model_id,
        model_hash=model.model_hash,
        software=f"{model.pipeline_class}, diffusers {diffusers.__version__}, "
        f"synthmark {__version__}",
        pipeline=model.pipeline_class,
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or "",
        seed=request.seed,
        steps=request.steps,
        sampler=sampler,
        cfg_scale=request.guidance,
        extra={"size": f"{request.width}x{request.height}"},
    )


class Generator:
    """Render, mark, label, register and write images; one call per batch of requests.

    >>> generator = Generator(load_model("tiny"), marker, labeller, registry)  # doctest: +SKIP
    >>> result = next(generator.generate([GenerationRequest("a fox")], "out/"))  # doctest: +SKIP
    >>> result.serial, result.path                                            # doctest: +SKIP
    (1, PosixPath('out/synthmark-00000001.png'))

    Args:
        model: the loaded pipeline (:func:`synthmark.generate.models.load_model`).
        marker: the watermark scheme that carries the serial.
        labeller: writes XMP, parameters and the signed C2PA manifest.
        registry: reserves serials and stores the records.
        public_mark: optional second scheme for Stable Diffusion's public mark.
        public_payload: the payload of the public mark.
        output_format: PNG (default), JPEG or WebP; all three keep their labels.
        scheduler: a key of :data:`SCHEDULERS`, or None for the model's own.
        provider: the organisation named in the labels (SB 942's provider); None leaves
            it out.
    """

    def __init__(
        self,
        model: ModelHandle,
        marker: Marker,
        labeller: Labeller,
        registry: Registry,
        *,
        public_mark: Marker | None = None,
        public_payload: bytes | None = None,
        output_format: OutputFormat = OutputFormat.png,
        scheduler: str | None = None,
        include_prompt: bool = False,
        provider: str | None = None,
        jpeg_quality: int = 95,
    ) -> None:
        self.model = model
        self.marker = marker
        self.labeller = labeller
        self.registry = registry
        self.public_mark = public_mark
        self.public_payload = public_payload
        self.output_format = OutputFormat(output_format)
        self.scheduler = scheduler
        self.include_prompt = include_prompt
        self.provider = provider
        self.jpeg_quality = jpeg_quality

    # -- rendering -----------------------------------------------------------------------

    def _apply_scheduler(self) -> str:
        pipeline = self.model.pipeline
        if self.scheduler is None:
            name = type(pipeline.scheduler).__name__
            return next((s for cls, s in SCHEDULERS.values() if cls == name), name)
        if self.scheduler not in SCHEDULERS:
            raise UsageError(
                f"unknown scheduler {self.scheduler!r}; known: {', '.join(sorted(SCHEDULERS))}"
            )
        import diffusers

        cls_name, sampler = SCHEDULERS[self.scheduler]
        cls = getattr(diffusers, cls_name)
        if type(pipeline.scheduler).__name__ != cls_name:
            pipeline.scheduler = cls.from_config(pipeline.scheduler.config)
        return sampler

    def render(
        self, request: GenerationRequest, on_step: Callable[[int], None] | None = None
    ) -> Image.Image:
        """Run the pipeline for one request; the same request gives the same image."""
        import torch

        pipeline = self.model.pipeline
        multiple = int(getattr(pipeline, "vae_scale_factor", 8))
        request.check(multiple)
        generator = torch.Generator(device="cpu").manual_seed(request.seed)

        def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(step + 1)
            return kwargs

        output = pipeline(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            width=request.width,
            height=request.height,
            generator=generator,
            callback_on_step_end=callback,
        )
        image = output.images[0]
        nsfw = getattr(output, "nsfw_content_detected", None)
        if nsfw and nsfw[0]:
            raise ContentBlocked(
                "the pipeline's safety checker blocked this image (seed "
                f"{request.seed}); nothing was written"
            )
        return image.convert("RGB")

    # -- marking, labelling, registering: the labelling capability's one step ----------

    def labelling(self) -> Labelling:
        """The labelling step wired with this generator's parts (built per image, so that a
        part replaced on the generator is the one used)."""
        return Labelling(
            self.marker,
            self.labeller,
            self.registry,
            public_mark=self.public_mark,
            public_payload=self.public_payload,
            provider=self.provider,
            include_prompt=self.include_prompt,
            quality=self.jpeg_quality,
        )

    def produce(
        self,
        request: GenerationRequest,
        folder: Path,
        sampler: str,
        on_step: Callable[[int], None] | None = None,
    ) -> GenerationResult:
        """Render one request and carry it through every provenance step to a file."""
        t0 = time.perf_counter()
        image = self.render(request, on_step)
        t_render = time.perf_counter() - t0
        created = datetime.now(timezone.utc).replace(microsecond=0)
        info = generation_info(request, sampler, self.model)
        result = self.labelling().label(
            image, info, folder, format=self.output_format.value, created=created
        )
        return GenerationResult(
            path=result.path,
            serial=result.serial,
            seed=request.seed,
            width=result.width,
            height=result.height,
            format=result.format,
            model_id=self.model.model_id,
            sha256=result.sha256,
            manifest_id=result.manifest_id,
            watermark_scheme=self.marker.name,
            created=result.created,
            render_seconds=t_render,
            marking_seconds=sum(result.stages.values()),
            public_mark=getattr(self.public_mark, "name", None),
            stages=result.stages,
        )

    def generate(
        self,
        requests: Iterable[GenerationRequest],
        output_dir: str | Path,
        progress: ProgressFn | None = None,
        on_error: Callable[[GenerationRequest, SynthmarkError], None] | None = None,
    ) -> Iterator[GenerationResult]:
        """Produce every request in turn, yielding each result as its file lands.

        ``progress(kind, done, total)`` is called with kind ``"image"`` and ``"step"``.
        An image that cannot be marked, or that the safety checker blocks, raises; with
        ``on_error`` it is reported there instead (nothing written) and the batch goes on.
        """
        folder = Path(output_dir)
        items = list(requests)
        multiple = int(getattr(self.model.pipeline, "vae_scale_factor", 8))
        check_sizes(items, (self.public_mark, self.marker), multiple)
        check_output_folder(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SynthmarkError(f"cannot create output folder {folder} ({exc.strerror})") from None
        sampler = self._apply_scheduler()
        for index, request in enumerate(items):

            def on_step(step: int, _r: GenerationRequest = request) -> None:
                if progress is not None:
                    progress("step", step, _r.steps)

            try:
                result = self.produce(request, folder, sampler, on_step)
            except (WatermarkError, ContentBlocked) as exc:
                # This image could not be marked (or was blocked): nothing was written and its
                # serial is abandoned. Stop, unless the caller handles per-image failures.
                if on_error is None:
                    raise
                on_error(request, exc)
                continue
            finally:
                if progress is not None:
                    progress("image", index + 1, len(items))
            yield result


__all__ = [
    "SCHEDULERS",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "OutputFormat",
    "check_output_folder",
    "check_sizes",
    "generation_info",
    "serial_payload",
]
