"""The :class:`Generator`: text-to-image whose every output is marked, labelled and registered.

For each image, always in this order:

1. the pipeline renders the picture;
2. the registry reserves a new serial (allocated by the database);
3. the watermark carrying that serial is embedded, then read back and checked, and a
   description of the marked picture is stored with the serial (what the mark is bound
   to: :mod:`synthmark.watermark.attribution`);
4. the labels are applied: XMP ``DigitalSourceType``, the A1111 ``parameters`` chunk and
   the C2PA manifest, signed last over the final bytes;
5. the registry record is completed (sha256, perceptual hash, manifest id);
6. the file is written atomically: a temporary file renamed into place.

If any step fails, the serial is abandoned, no file appears under the output name, and a
:class:`~synthmark.errors.SynthmarkError` says what failed. Parts are injected, so each can
be replaced by a fake in tests (``Generator(model, marker, labeller, registry)``).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from synthmark import __version__
from synthmark.errors import (
    ContentBlocked,
    ImageTooSmall,
    SynthmarkError,
    UsageError,
    WatermarkError,
)
from synthmark.generate.models import ModelHandle
from synthmark.imaging import atomic_writer
from synthmark.watermark.attribution import describe_content
from synthmark.watermark.base import embed_checked

if TYPE_CHECKING:  # the parts' types; fakes in tests need only the same methods
    from synthmark.labels import Labeller
    from synthmark.registry import Registry
    from synthmark.watermark import WatermarkScheme as Marker

#: SB 942 "provider" when the user names none.
DEFAULT_PROVIDER = "unnamed provider (set --provider or SYNTHMARK_PROVIDER)"


class OutputFormat(str, Enum):
    """File formats whose labels synthmark writes."""

    png = "png"
    jpeg = "jpeg"
    webp = "webp"

    @property
    def pil_name(self) -> str:
        return {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[self.value]

    @property
    def suffix(self) -> str:
        return {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}[self.value]


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


def serial_payload(serial: int, bits: int = 64) -> bytes:
    """The watermark payload that carries ``serial``: big-endian, ``bits`` wide."""
    if not 0 <= serial < 2**bits:
        raise WatermarkError(f"serial {serial} does not fit in a {bits}-bit payload")
    return serial.to_bytes(bits // 8, "big")


def a1111_parameters(
    request: GenerationRequest, sampler: str, model: ModelHandle, serial: int
) -> dict[str, Any]:
    """Generation parameters in AUTOMATIC1111's vocabulary (snake_case keys).

    The prompts are always here; the labeller and the registry keep them only on opt-in.
    """
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt or "",
        "steps": request.steps,
        "sampler": sampler,
        "cfg_scale": request.guidance,
        "seed": request.seed,
        "size": f"{request.width}x{request.height}",
        "model": model.model_id,
        "model_hash": model.model_hash[:10],
        "serial": serial,
        "generator": f"synthmark {__version__}",
    }


class Generator:
    """Render, mark, label, register and write images; one call per batch of requests.

    Args:
        model: the loaded pipeline (:func:`synthmark.generate.models.load_model`).
        marker: the watermark scheme that carries the serial.
        labeller: writes XMP, parameters and the signed C2PA manifest.
        registry: reserves serials and stores the records.
        make_label_request: builds the labeller's request from what the generator knows
            (keeps this module independent of the labels package's types).
        public_mark: optional second scheme for Stable Diffusion's public mark.
        public_payload: the payload of the public mark.
        output_format: PNG (default), JPEG or WebP; all three keep their labels.
        scheduler: a key of :data:`SCHEDULERS`, or None for the model's own.
        describe: the content description stored with each serial
            (:func:`~synthmark.watermark.attribution.describe_content`).
    """

    def __init__(
        self,
        model: ModelHandle,
        marker: Marker,
        labeller: Labeller,
        registry: Registry,
        make_label_request: Callable[..., Any],
        *,
        public_mark: Marker | None = None,
        public_payload: bytes | None = None,
        output_format: OutputFormat = OutputFormat.png,
        scheduler: str | None = None,
        include_prompt: bool = False,
        provider: str = DEFAULT_PROVIDER,
        jpeg_quality: int = 95,
        describe: Callable[[Image.Image], bytes] = describe_content,
    ) -> None:
        self.model = model
        self.marker = marker
        self.labeller = labeller
        self.registry = registry
        self.make_label_request = make_label_request
        self.public_mark = public_mark
        self.public_payload = public_payload
        self.output_format = OutputFormat(output_format)
        self.scheduler = scheduler
        self.include_prompt = include_prompt
        self.provider = provider
        self.jpeg_quality = jpeg_quality
        self.describe = describe

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

    # -- marking -------------------------------------------------------------------------

    def _embed(self, image: Image.Image, serial: int) -> Image.Image:
        payload = serial_payload(serial, int(getattr(self.marker, "payload_bits", 64)))
        for scheme in (self.public_mark, self.marker):
            need = int(getattr(scheme, "min_side", 0))
            if scheme is not None and min(image.size) < need:
                w, h = image.size
                raise ImageTooSmall(
                    f"the generated image is {w}x{h}; watermark scheme {scheme.name!r} needs "
                    f"at least {need} px on the short side: generate a larger one "
                    "(--width/--height)"
                )
        marked = image
        if self.public_mark is not None:
            marked = self.public_mark.embed(marked, self.public_payload or b"")
        marked = embed_checked(self.marker, marked, payload)
        if self.public_mark is not None and not self.public_mark.extract(marked).present:
            raise WatermarkError(
                f"the public {self.public_mark.name} mark did not read back after embedding "
                "(its dwtDct method fails on some images); run without --public-mark"
            )
        return marked

    def _target(self, folder: Path, serial: int) -> Path:
        stem = f"synthmark-{serial:08d}"
        candidate = folder / f"{stem}{self.output_format.suffix}"
        n = 1
        while candidate.exists():
            candidate = folder / f"{stem}-{n}{self.output_format.suffix}"
            n += 1
        return candidate

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
        serial = self.registry.reserve(
            watermark_scheme=self.marker.name,
            model_id=self.model.model_id,
            pipeline=self.model.pipeline_class,
        )
        stages: dict[str, float] = {}
        try:
            t1 = time.perf_counter()
            marked = self._embed(image, serial)
            self.registry.put_content(serial, self.describe(marked), scheme=self.marker.name)
            stages["watermark"] = time.perf_counter() - t1
            parameters = a1111_parameters(request, sampler, self.model, serial)
            t2 = time.perf_counter()
            label_request = self.make_label_request(
                model=self.model,
                parameters=parameters,
                serial=serial,
                scheme=self.marker.name,
                include_prompt=self.include_prompt,
                provider=self.provider,
                created=created,
            )
            fmt = self.output_format.pil_name
            labelled = self.labeller.apply(marked, fmt, label_request)
            data, manifest_id = labelled.data, labelled.manifest_id
            stages["labels"] = time.perf_counter() - t2
            sha256 = hashlib.sha256(data).hexdigest()
            target = self._target(folder, serial)
            t3 = time.perf_counter()
            with atomic_writer(target) as fh:
                fh.write(data)
                self.registry.commit(
                    serial,
                    data=data,
                    manifest_id=manifest_id,
                    model_id=self.model.model_id,
                    model_hash=self.model.model_hash,
                    pipeline=self.model.pipeline_class,
                    parameters=parameters,
                    prompt=request.prompt,
                    keep_prompt=self.include_prompt,
                    image_format=fmt,
                    width=request.width,
                    height=request.height,
                    created_at=created,
                )
            stages["registry_and_write"] = time.perf_counter() - t3
        except BaseException as exc:
            self.registry.abandon(serial, reason=f"{type(exc).__name__}: {exc}")
            raise
        return GenerationResult(
            path=target,
            serial=serial,
            seed=request.seed,
            width=request.width,
            height=request.height,
            format=fmt,
            model_id=self.model.model_id,
            sha256=sha256,
            manifest_id=manifest_id,
            watermark_scheme=self.marker.name,
            created=created.isoformat(),
            render_seconds=t_render,
            marking_seconds=sum(stages.values()),
            public_mark=getattr(self.public_mark, "name", None),
            stages=stages,
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
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SynthmarkError(f"cannot create output folder {folder} ({exc.strerror})") from None
        if not folder.is_dir():
            raise SynthmarkError(f"output path {folder} is not a folder")
        try:  # probe: permission bits do not bind root, read-only mounts bind everyone
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise SynthmarkError(
                f"output folder {folder} is not writable ({exc.strerror}); choose another -o"
            ) from None
        items = list(requests)
        for item in items:
            item.check(int(getattr(self.model.pipeline, "vae_scale_factor", 8)))
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
    "a1111_parameters",
    "serial_payload",
]
