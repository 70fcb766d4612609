"""ComfyUI nodes: "synthmark: Label and Save" and "synthmark: Screen".

The node pack is the repository's ``integrations/comfyui`` folder (copy or clone it into
``ComfyUI/custom_nodes``); it exports :data:`NODE_CLASS_MAPPINGS` and
:data:`NODE_DISPLAY_NAME_MAPPINGS` from here. The nodes use ComfyUI's V1 node contract
(``INPUT_TYPES``, ``RETURN_TYPES``, ``FUNCTION``, ``OUTPUT_NODE``) and import ComfyUI's own
modules (``folder_paths``, ``comfy.cli_args``) only when run, so they also work, and are
tested, without ComfyUI.

**Label and Save** is ComfyUI's ``SaveImage`` with provenance: each picture of the IMAGE
batch (``[B, H, W, C]`` floats in 0..1) is marked with a registered serial and written as a
PNG carrying XMP, the A1111-style ``parameters``, the ``prompt`` and ``workflow`` JSON that
``SaveImage`` writes and a signed C2PA manifest over all of it. With ComfyUI's
``--disable-metadata``, or the node's ``prompts`` input set to ``leave out``, neither the
workflow nor the prompt is written (the labels are). The model,
seed, steps, CFG and sampler come from the workflow's graph.

**Screen** returns the verdict and the reasons for each picture as strings (and shows them).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import UsageError
from synthmark.integrations.common import Item, OnFailure, label_batch, logger, open_parts

if TYPE_CHECKING:
    from PIL import Image

    from synthmark.labelling import GenerationInfo

CATEGORY = "synthmark"
KEEP, LEAVE_OUT = "keep", "leave out"
FAILURE_CHOICES = ["error", "save unlabelled"]


def tensor_to_pil(image: Any) -> Image.Image:
    """One ComfyUI IMAGE (``[H, W, C]`` floats in 0..1, C = 1, 3 or 4) as a PIL image,
    converted as ``SaveImage`` does (``255 * x``, clipped, truncated)."""
    import numpy as np
    from PIL import Image

    array = image.detach().cpu().float().numpy() if hasattr(image, "detach") else image
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise UsageError(f"an IMAGE is [H, W, C] with C = 1, 3 or 4, got {list(array.shape)}")
    pixels = np.clip(255.0 * array, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def _comfy_version() -> str | None:
    try:
        import comfyui_version
    except ImportError:
        return None
    return str(getattr(comfyui_version, "__version__", "")) or None


def graph_info(prompt: dict[str, Any] | None, model: str = "") -> GenerationInfo:
    """What made the pictures, from ComfyUI's API-format ``prompt`` graph: model
    (checkpoint, UNet or LoRA names), seed, prompt, steps, CFG, sampler; ``model`` (when
    not empty) names the model instead."""
    from dataclasses import replace

    from synthmark.labelling import GenerationInfo
    from synthmark.labels.generators import GeneratorMetadata, comfyui_summary

    found = []
    if isinstance(prompt, dict) and prompt:
        fields = comfyui_summary(prompt)
        found = [GeneratorMetadata(tool="ComfyUI", kind="workflow", where="prompt", fields=fields)]
    info = GenerationInfo.from_metadata(found)
    if model.strip():
        info = info.with_model(model.strip()) if info else GenerationInfo(model=model.strip())
    if info is None:
        raise UsageError(
            "the workflow names no checkpoint or UNet (ckpt_name, unet_name): type the model "
            "into the node's 'model' input"
        )
    version = _comfy_version()
    software = f"ComfyUI {version}" if version else "ComfyUI"
    return replace(info, software=software, pipeline="ComfyUI")


def _disable_metadata() -> bool:
    try:
        from comfy.cli_args import args
    except ImportError:
        return False
    return bool(getattr(args, "disable_metadata", False))


def workflow_texts(
    prompt: dict[str, Any] | None, extra_pnginfo: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """The PNG text chunks ComfyUI's ``SaveImage`` writes: ``prompt`` and each key of
    ``extra_pnginfo`` (``workflow``) as JSON."""
    texts = []
    if prompt is not None:
        texts.append(("prompt", json.dumps(prompt)))
    for key, value in (extra_pnginfo or {}).items():
        texts.append((str(key), json.dumps(value)))
    return texts


def save_path(prefix: str, output_dir: Path, width: int, height: int) -> tuple[Path, str, int, str]:
    """ComfyUI's ``folder_paths.get_save_image_path`` (folder, file name, counter,
    sub-folder), or the same rule without ComfyUI: the next free counter for ``prefix``."""
    try:
        import folder_paths
    except ImportError:
        folder_paths = None
    if folder_paths is not None:
        folder, name, counter, sub, _ = folder_paths.get_save_image_path(
            prefix, str(output_dir), width, height
        )
        return Path(folder), name, counter, sub
    sub, name = os.path.split(os.path.normpath(prefix))
    folder = (output_dir / sub).resolve()
    if os.path.commonpath([folder, output_dir.resolve()]) != str(output_dir.resolve()):
        raise UsageError(f"filename_prefix {prefix!r} leads outside the output folder")
    folder.mkdir(parents=True, exist_ok=True)
    counters = [
        int(p.name[len(name) + 1 :].split("_")[0])
        for p in folder.glob(f"{name}_*_.png")
        if p.name[len(name) + 1 :].split("_")[0].isdigit()
    ]
    return folder, name, max(counters, default=0) + 1, sub


class LabelAndSave:
    """"synthmark: Label and Save": ComfyUI's Save Image, with mark, labels and registry."""

    DESCRIPTION = (
        "Saves the images to the output folder as PNG with an invisible watermark carrying a "
        "registered serial, IPTC XMP, the generation parameters, the workflow and a signed "
        "C2PA manifest."
    )
    RETURN_TYPES = ()
    FUNCTION = "label_and_save"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY

    def __init__(self, output_dir: str | os.PathLike[str] | None = None) -> None:
        if output_dir is None:
            import folder_paths

            output_dir = folder_paths.get_output_directory()
        self.output_dir = Path(output_dir)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The images to label and save."}),
                "filename_prefix": ("STRING", {"default": "synthmark"}),
                "model": ("STRING", {"default": "", "tooltip": "The model named in the "
                                     "labels; empty: the checkpoint the workflow loads."}),
                "prompts": ([KEEP, LEAVE_OUT], {"default": KEEP, "tooltip": "Keep the prompt "
                            "and workflow in the file and labels, or leave every prompt out."}),
                "on_failure": (FAILURE_CHOICES, {"default": "error", "tooltip": "An image "
                               "that cannot be labelled stops the run (error), or is saved "
                               "unlabelled, named so."}),
            },
            "optional": {
                "provider": ("STRING", {"default": "", "tooltip": "Your organisation, named "
                             "in the labels (default: $SYNTHMARK_PROVIDER)."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def label_and_save(
        self,
        images: Any,
        filename_prefix: str = "synthmark",
        model: str = "",
        prompts: str = KEEP,
        on_failure: str = "error",
        provider: str = "",
        prompt: dict[str, Any] | None = None,
        extra_pnginfo: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Label and save each image; returns ComfyUI's ``{"ui": {"images": [...]}}``."""
        info = graph_info(prompt, model)
        keep = prompts == KEEP and not _disable_metadata()  # ComfyUI's --disable-metadata
        texts = workflow_texts(prompt, extra_pnginfo) if keep else []
        first = images[0]
        folder, name, counter, sub = save_path(
            filename_prefix, self.output_dir, int(first.shape[1]), int(first.shape[0])
        )
        items = []
        for number, image in enumerate(images):
            stem = name.replace("%batch_num%", str(number))
            target = folder / f"{stem}_{counter + number:05}_.png"
            items.append(Item(tensor_to_pil(image), info, target, texts))
        policy = OnFailure.resolve(on_failure.replace(" ", "-"))
        with open_parts(provider=provider or None, include_prompt=keep) as parts:
            outcome = label_batch(parts, items, on_failure=policy, format="png")
        written = [
            r.path if r is not None else outcome.unlabelled[i]
            for i, r in enumerate(outcome.results)
        ]
        ui = [{"filename": p.name, "subfolder": sub, "type": "output"} for p in written]
        return {"ui": {"images": ui}}


def _describe(record: dict[str, Any]) -> tuple[str, str]:
    if "error" in record:
        return "error", str(record["error"])
    return f"{record['verdict']} ({record['score']:.2f})", "\n".join(record["reasons"])


class Screen:
    """"synthmark: Screen": the verdict and reasons for each image, as strings."""

    DESCRIPTION = (
        "Screens images for provenance: synthmark's watermark, Stable Diffusion's public "
        "marks, the registry and the detector. A file (in ComfyUI's input or output folder) "
        "is also read for C2PA, XMP and generator metadata."
    )
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("verdict", "reasons")
    FUNCTION = "screen"
    OUTPUT_NODE = True
    CATEGORY = CATEGORY

    def __init__(self, folders: list[str | os.PathLike[str]] | None = None) -> None:
        if folders is None:
            import folder_paths

            folders = [folder_paths.get_input_directory(), folder_paths.get_output_directory()]
        self.folders = [Path(f).resolve() for f in folders]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {"detector": ("BOOLEAN", {"default": True})},
            "optional": {
                "images": ("IMAGE",),
                "file": ("STRING", {"default": "", "tooltip": "A file in ComfyUI's input or "
                                    "output folder, e.g. synthmark_00001_.png"}),
            },
        }

    def _file(self, name: str) -> Path:
        for folder in self.folders:
            path = (folder / name).resolve()
            if path.is_file() and os.path.commonpath([path, folder]) == str(folder):
                return path
        raise UsageError(f"{name!r} is not a file in ComfyUI's input or output folder")

    def screen(self, detector: bool = True, images: Any = None, file: str = "") -> dict[str, Any]:
        """Screen the images and the file; returns the verdicts and reasons (one block per
        picture) as the node's two STRING outputs, and shows them."""
        from synthmark.screen.assemble import ScreenerSpec
        from synthmark.settings import Settings

        if images is None and not file.strip():
            raise UsageError("connect images or name a file to screen")
        screener = ScreenerSpec.from_settings(Settings.from_env(), use_detector=detector)()
        records = []
        for index, image in enumerate(images if images is not None else []):
            buf = io.BytesIO()
            tensor_to_pil(image).save(buf, format="PNG")
            records.append(screener.screen_bytes(buf.getvalue(), f"image {index}"))
        if file.strip():
            records.append(screener.screen_path(self._file(file.strip())))
        verdicts, reasons = [], []
        for record in records:
            verdict, why = _describe(record)
            verdicts.append(f"{Path(record['path']).name}: {verdict}")
            reasons.append(f"{Path(record['path']).name}:\n{why}")
            logger.info("screened %s: %s", record["path"], verdict)
        text = ("\n".join(verdicts), "\n\n".join(reasons))
        return {"ui": {"text": list(text)}, "result": text}


NODE_CLASS_MAPPINGS = {"SynthmarkLabelAndSave": LabelAndSave, "SynthmarkScreen": Screen}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SynthmarkLabelAndSave": "synthmark: Label and Save",
    "SynthmarkScreen": "synthmark: Screen",
}

__all__ = [
    "NODE_CLASS_MAPPINGS",
    "NODE_DISPLAY_NAME_MAPPINGS",
    "LabelAndSave",
    "Screen",
    "graph_info",
    "save_path",
    "tensor_to_pil",
    "workflow_texts",
]
