"""A diffusers pipeline call, read: what made each picture, and its pictures in and out.

:func:`call_infos` turns a call's bound arguments into one
:class:`~synthmark.labelling.GenerationInfo` per picture; :func:`to_pil` and :func:`like`
convert a pipeline's ``pil``, ``np`` and ``pt`` outputs to 8-bit PIL images and back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image

    from synthmark.labelling import GenerationInfo

#: What ``torch.Generator().initial_seed()`` reports when nobody seeded it: not a seed the
#: user chose, so it is not recorded.
DEFAULT_TORCH_SEED = 67280421310721


def model_name(pipe: Any, model_id: str | None = None) -> str:
    """``model_id``, else the pipeline's ``name_or_path`` (a hub cache path gives its
    repository id, another local path its folder name)."""
    if model_id:
        return model_id
    name = getattr(pipe, "name_or_path", None)
    if not name:
        raise UsageError(
            f"the {type(pipe).__name__} does not name its model (it was built from components "
            "or a single file): pass model_id='owner/name'"
        )
    path = Path(str(name))
    if not path.exists():
        return str(name)
    for part in path.parts:
        if part.startswith("models--"):
            return part[len("models--") :].replace("--", "/")
    return path.resolve().name


def sampler_name(pipe: Any) -> str | None:
    """The scheduler as AUTOMATIC1111 names it (``Euler a``), else its class name."""
    from synthmark.generate.generator import SCHEDULERS

    scheduler = getattr(pipe, "scheduler", None)
    if scheduler is None:
        return None
    name = type(scheduler).__name__
    return next((a1111 for cls, a1111 in SCHEDULERS.values() if cls == name), name)


def _seed(generator: Any) -> int | None:
    seed = getattr(generator, "initial_seed", None)
    if not callable(seed):
        return None
    value = int(seed())
    return None if value == DEFAULT_TORCH_SEED else value


def seeds(generator: Any, count: int) -> tuple[list[int | None], bool]:
    """Each image's seed and whether one generator made them all (then an image is
    reproduced by its seed and its position in the batch, not by its seed alone)."""
    if isinstance(generator, (list, tuple)):
        if len(generator) == 1:
            generator = generator[0]
        else:
            found = [_seed(g) for g in generator]
            return [found[min(i, len(found) - 1)] for i in range(count)], False
    seed = _seed(generator)
    return [seed] * count, count > 1 and seed is not None


def _per_prompt(value: Any, index: int) -> str | None:
    if isinstance(value, (list, tuple)):
        return str(value[min(index, len(value) - 1)]) if value else None
    return str(value) if value is not None else None


def call_infos(
    pipe: Any, call: dict[str, Any], images: Sequence[Image.Image], model: str
) -> list[GenerationInfo]:
    """What made each image of one call, from the call's bound arguments."""
    import diffusers

    from synthmark.labelling import GenerationInfo

    count = len(images)
    per_prompt = max(int(call.get("num_images_per_prompt") or 1), 1)
    image_seeds, shared = seeds(call.get("generator"), count)
    if call.get("latents") is not None:  # the given latents, not the seed, made the images
        image_seeds = [None] * count
    pipeline = type(pipe).__name__
    steps, guidance = call.get("num_inference_steps"), call.get("guidance_scale")
    infos = []
    for i, image in enumerate(images):
        extra: dict[str, Any] = {"size": f"{image.width}x{image.height}"}
        if call.get("strength") is not None and call.get("image") is not None:
            extra["denoising_strength"] = call["strength"]
        if shared and image_seeds[i] is not None:
            extra["batch_size"], extra["batch_pos"] = count, i
        infos.append(
            GenerationInfo(
                model=model,
                software=f"diffusers {diffusers.__version__} {pipeline}",
                pipeline=pipeline,
                prompt=_per_prompt(call.get("prompt"), i // per_prompt),
                negative_prompt=_per_prompt(call.get("negative_prompt"), i // per_prompt),
                seed=image_seeds[i],
                steps=int(steps) if isinstance(steps, int) else None,
                sampler=sampler_name(pipe),
                cfg_scale=float(guidance) if isinstance(guidance, (int, float)) else None,
                extra=extra,
            )
        )
    return infos


def to_pil(images: Any) -> list[Image.Image]:
    """A pipeline's images (PIL list, ``np`` array ``[B,H,W,C]`` or ``pt`` tensor
    ``[B,C,H,W]``, both 0..1) as 8-bit PIL images, rounded as diffusers does."""
    import numpy as np
    from PIL import Image

    if isinstance(images, list) and all(isinstance(im, Image.Image) for im in images):
        return list(images)
    if type(images).__module__.startswith("torch"):
        images = images.detach().permute(0, 2, 3, 1).float().cpu().numpy()
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[-1] in (1, 3, 4):
        if images.dtype != np.uint8:
            images = (np.clip(images, 0.0, 1.0) * 255).round().astype(np.uint8)
        return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in images]
    raise UsageError(
        f"cannot label pipeline outputs of type {type(images).__name__}: synthmark labels "
        "images given as PIL, np or pt (output_type)"
    )


def like(marked: Sequence[Image.Image], original: Any) -> Any:
    """``marked`` in the layout, dtype and device of ``original`` (the pipeline's images)."""
    import numpy as np

    if isinstance(original, list):
        return list(marked)
    arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in marked]) / 255
    if isinstance(original, np.ndarray):
        return arrays.astype(original.dtype, copy=False)
    import torch

    tensor = torch.from_numpy(arrays).permute(0, 3, 1, 2)
    return tensor.to(device=original.device, dtype=original.dtype)


__all__ = [
    "DEFAULT_TORCH_SEED",
    "call_infos",
    "like",
    "model_name",
    "sampler_name",
    "seeds",
    "to_pil",
]
