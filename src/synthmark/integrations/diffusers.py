"""diffusers: every picture a pipeline returns comes back marked, labelled and registered.

Two ways in, one labelling step behind both (:class:`synthmark.labelling.Labelling`):

* :func:`attach` wraps any text-to-image or image-to-image pipeline's call. The parameters
  come from the call itself: model id, scheduler, steps, guidance, seed (when a generator
  is given), prompts (kept in the labels only with ``include_prompt``), strength and size::

      from synthmark.integrations.diffusers import attach

      labels = attach(pipe, "outputs/", model_id="stable-diffusion-v1-5/stable-diffusion-v1-5")
      image = pipe("a red fox", generator=torch.Generator().manual_seed(7)).images[0]
      labels.results[0].path   # outputs/synthmark-00000001.png: mark, XMP, C2PA, registry

  The returned images hold the marked pixels in the call's ``output_type`` (``pil``,
  ``np`` or ``pt``); the labelled files are in ``outputs/``: a picture saved with
  ``image.save()`` keeps the mark but not the signed labels. ``output_type="latent"`` is
  refused (no pixels to mark). ``from_pipe`` gives a new, unattached pipeline.

* :class:`SynthmarkWatermarker` is a drop-in for SDXL pipelines' ``watermark`` attribute
  (diffusers' dwtDct marker): ``pipe.watermark = SynthmarkWatermarker("outputs/",
  model_id=...)``. It sees only the decoded pixels, so its labels name the model and size,
  not the call's parameters; prefer :func:`attach`.

Unlike diffusers' dwtDct, which skips images narrower than 256 px without a word, a picture
too small for synthmark's mark is an error (the failure policy of
:mod:`synthmark.integrations.common` applies).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import UsageError
from synthmark.integrations.common import (
    BatchOutcome,
    Item,
    LabellingFailed,
    OnFailure,
    label_batch,
    logger,
    open_parts,
)
from synthmark.integrations.diffusers_call import (
    DEFAULT_TORCH_SEED,
    call_infos,
    like,
    model_name,
    seeds,
    to_pil,
)
from synthmark.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

    from synthmark.labelling import GenerationInfo, Labelling, LabelResult

#: Subclasses made by :func:`attach`, one per pipeline class.
_WRAPPED: dict[type, type] = {}


class PipelineLabels:
    """Labels a pipeline's pictures into one folder; what :func:`attach` and
    :class:`SynthmarkWatermarker` share. ``results`` holds the last call's results."""

    def __init__(
        self,
        labelling: Labelling,
        output_dir: str | os.PathLike[str],
        *,
        format: str = "png",
        on_failure: str | OnFailure | None = None,
        owns_labelling: bool = False,
    ) -> None:
        from synthmark.labels.labeller import label_format

        self.labelling = labelling
        self.output_dir = Path(output_dir)
        self.format = label_format(format)
        self.on_failure = OnFailure.resolve(on_failure)
        self.owns_labelling = owns_labelling
        self.results: list[LabelResult | None] = []
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def label(self, images: Sequence[Image.Image], infos: Sequence[GenerationInfo]) -> BatchOutcome:
        """Label ``images`` (with ``infos``) into the folder; see
        :func:`~synthmark.integrations.common.label_batch` for failures."""
        items = [Item(im, info, self.output_dir) for im, info in zip(images, infos, strict=True)]
        try:
            outcome = label_batch(self.labelling, items, on_failure=self.on_failure,
                                  format=self.format)
        except LabellingFailed as exc:
            self.results = exc.results
            raise
        self.results = outcome.results
        return outcome

    def close(self) -> None:
        """Free the signer and the registry connection (if :func:`attach` opened them)."""
        if self.owns_labelling:
            self.labelling.close()


def _parts(
    labelling: Labelling | None,
    settings: Settings | None,
    provider: str | None,
    include_prompt: bool,
) -> tuple[Labelling, bool]:
    if labelling is not None:
        return labelling, False
    return open_parts(settings, provider=provider, include_prompt=include_prompt), True


# -- attach: wrap the pipeline's call ----------------------------------------------------


def _output_images(out: Any) -> tuple[Any, Any]:
    if isinstance(out, tuple) and out:
        return out[0], out[1] if len(out) > 1 else None
    images = getattr(out, "images", None)
    if images is None:
        raise UsageError(
            f"cannot label pipeline outputs of type {type(out).__name__}: it holds no .images "
            "(synthmark labels image pipelines)"
        )
    return images, getattr(out, "nsfw_content_detected", None)


def _with_images(out: Any, images: Any) -> Any:
    if isinstance(out, tuple):
        return (images, *out[1:])
    out.images = images
    return out


class Attachment(PipelineLabels):
    """What :func:`attach` puts on a pipeline (``pipe.synthmark``): it labels each call's
    pictures; ``results`` are the last call's :class:`~synthmark.labelling.LabelResult`
    (None for a picture not labelled)."""

    def __init__(self, labelling: Labelling, output_dir: str | os.PathLike[str],
                 *, model_id: str, **options: Any) -> None:
        super().__init__(labelling, output_dir, **options)
        self.model_id = model_id

    def before(self, call: dict[str, Any]) -> None:
        """Refuse, before any work, a call whose outputs cannot be labelled."""
        if call.get("output_type") == "latent":
            raise UsageError(
                "output_type='latent' returns latents, which have no pixels to mark: decode "
                "them (pipe.vae.decode) and label the pictures with synthmark.label, or "
                "synthmark.integrations.diffusers.detach(pipe) first"
            )

    def after(self, pipe: Any, call: dict[str, Any], out: Any) -> Any:
        """Label the call's pictures; return ``out`` holding the marked ones."""
        try:
            images, nsfw = _output_images(out)
            pictures = to_pil(images)
        except UsageError as exc:  # an output that holds no pictures: keep it, say so
            failed = LabellingFailed(str(exc), [], [], {})
            failed.output = out
            raise failed from exc
        infos = call_infos(pipe, call, pictures, self.model_id)
        blocked = [bool(nsfw[i]) if nsfw else False for i in range(len(pictures))]
        for i in (i for i, b in enumerate(blocked) if b):
            logger.warning(
                "image %d was blocked by the pipeline's safety checker: nothing to label", i
            )
        keep = [i for i, b in enumerate(blocked) if not b]
        marked = list(pictures)
        results: list[LabelResult | None] = [None] * len(pictures)
        try:
            outcome = self.label([pictures[i] for i in keep], [infos[i] for i in keep])
        except LabellingFailed as exc:  # indices of the whole batch, and what the call gave
            for j, i in enumerate(keep):
                marked[i], results[i] = exc.images[j], exc.results[j]
            exc.images, exc.results, self.results = marked, results, results
            exc.errors = {keep[j]: error for j, error in exc.errors.items()}
            exc.output = out
            raise
        for j, i in enumerate(keep):
            marked[i], results[i] = outcome.images[j], outcome.results[j]
        self.results = results
        return _with_images(out, like(marked, images))


def _wrapped_class(cls: type) -> type:
    """A subclass of ``cls`` with the same names whose call labels the outputs."""
    if getattr(cls, "_synthmark_base", None) is not None:
        return cls
    if cls in _WRAPPED:
        return _WRAPPED[cls]
    inner = cls.__call__
    signature = inspect.signature(inner)

    @functools.wraps(inner)
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        hook: Attachment | None = self.__dict__.get("synthmark")
        if hook is None:
            return inner(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        call = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
        call.update(bound.arguments.get("kwargs") or {})
        hook.before(call)
        return hook.after(self, call, inner(self, *args, **kwargs))

    namespace = {
        "__call__": __call__,
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "_synthmark_base": cls,
    }
    _WRAPPED[cls] = type(cls.__name__, (cls,), namespace)
    return _WRAPPED[cls]


def attach(
    pipe: Any,
    output_dir: str | os.PathLike[str],
    *,
    model_id: str | None = None,
    labelling: Labelling | None = None,
    settings: Settings | None = None,
    provider: str | None = None,
    include_prompt: bool = False,
    format: str = "png",
    on_failure: str | OnFailure | None = None,
) -> Attachment:
    """Make every picture ``pipe`` returns marked, labelled and registered.

    Args:
        pipe: any diffusers pipeline whose call returns images (text-to-image,
            image-to-image, inpainting).
        output_dir: folder for the labelled files (``synthmark-<serial>.png``), created.
        model_id: the model named in the labels; default: ``pipe.name_or_path``, which is
            None for pipelines built from components or a single file.
        labelling: parts built once (:func:`synthmark.labelling.open_labelling`; their own
            provider and prompt setting then apply); default: the home folder's
            (``$SYNTHMARK_HOME``), the key and a local signing CA created on first use,
            closed by :func:`detach`.
        provider: the organisation named in the labels (default ``$SYNTHMARK_PROVIDER``).
        include_prompt: keep the prompt text in the labels and the registry.
        format: ``png`` (default), ``jpeg`` or ``webp``.
        on_failure: ``error`` (default, or ``$SYNTHMARK_ON_FAILURE``) or
            ``save-unlabelled``; see :mod:`synthmark.integrations.common`.

    Returns:
        the :class:`Attachment`, also at ``pipe.synthmark``.

    Raises:
        UsageError: no model id, or a pipeline labelled twice.
        KeyMissing: a key or certificate named by an environment variable is missing.
    """
    if getattr(pipe, "__dict__", {}).get("synthmark") is not None:
        raise UsageError("this pipeline is attached already; detach(pipe) first")
    if isinstance(getattr(pipe, "watermark", None), SynthmarkWatermarker):
        raise UsageError(
            "pipe.watermark is a SynthmarkWatermarker: it labels the pictures already; set "
            "pipe.watermark = None to use attach instead"
        )
    model = model_name(pipe, model_id)
    parts, owns = _parts(labelling, settings, provider, include_prompt)
    hook = Attachment(parts, output_dir, model_id=model, format=format,
                      on_failure=on_failure, owns_labelling=owns)
    pipe.__class__ = _wrapped_class(type(pipe))
    pipe.__dict__["synthmark"] = hook
    return hook


def detach(pipe: Any) -> None:
    """Undo :func:`attach`: the pipeline's own class again, the parts closed."""
    hook = pipe.__dict__.pop("synthmark", None)
    base = getattr(type(pipe), "_synthmark_base", None)
    if base is not None:
        pipe.__class__ = base
    if hook is not None:
        hook.close()


# -- the SDXL watermark drop-in ----------------------------------------------------------


class SynthmarkWatermarker:
    """A drop-in for an SDXL pipeline's ``watermark``: synthmark's mark, labels and
    registry record instead of diffusers' dwtDct mark.

    ``apply_watermark`` receives the decoded images (``[B, 3, H, W]``, about -1..1, on the
    VAE's device and dtype), labels each into ``output_dir`` and returns the marked pixels
    as a CPU float32 tensor in -1..1, as diffusers' own marker does. Anything that is not a
    3-channel image batch (the latents of an ``output_type="latent"`` img2img call) is
    returned as it came, with a warning.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        model_id: str,
        labelling: Labelling | None = None,
        settings: Settings | None = None,
        provider: str | None = None,
        include_prompt: bool = False,
        format: str = "png",
        on_failure: str | OnFailure | None = None,
    ) -> None:
        if not model_id:
            raise UsageError("name the model: SynthmarkWatermarker(..., model_id='owner/name')")
        parts, owns = _parts(labelling, settings, provider, include_prompt)
        self.model_id = model_id
        self.labels = PipelineLabels(parts, output_dir, format=format, on_failure=on_failure,
                                     owns_labelling=owns)

    @property
    def results(self) -> list[LabelResult | None]:
        """The last batch's results."""
        return self.labels.results

    def apply_watermark(self, images: Any) -> Any:
        import diffusers
        import numpy as np
        import torch

        from synthmark.labelling import GenerationInfo

        if images.ndim != 4 or images.shape[1] != 3:
            logger.warning("watermark: got %s, not images; nothing to mark", tuple(images.shape))
            return images
        unit = (images.detach().float().cpu() / 2 + 0.5).clamp(0, 1)
        pictures = to_pil(unit)
        infos = [
            GenerationInfo(
                model=self.model_id,
                software=f"diffusers {diffusers.__version__} (watermark hook)",
                extra={"size": f"{im.width}x{im.height}"},
            )
            for im in pictures
        ]
        outcome = self.labels.label(pictures, infos)
        marked = np.stack([np.asarray(im.convert("RGB"), np.float32) for im in outcome.images])
        tensor = torch.from_numpy(marked / 255.0).permute(0, 3, 1, 2)
        return torch.clamp(2 * tensor - 1, min=-1.0, max=1.0)

    def close(self) -> None:
        self.labels.close()


__all__ = [
    "DEFAULT_TORCH_SEED",
    "Attachment",
    "PipelineLabels",
    "SynthmarkWatermarker",
    "attach",
    "call_infos",
    "detach",
    "model_name",
    "seeds",
    "to_pil",
]
