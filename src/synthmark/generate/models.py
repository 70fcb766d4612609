"""Find and load a Stable Diffusion text-to-image model the ordinary diffusers way.

A model is named by one string (``--model``):

* ``tiny``: the built-in random model (:mod:`synthmark.generate.tiny`);
* a local diffusers folder (it holds ``model_index.json``);
* a single-file checkpoint (``.safetensors``, or ``.ckpt`` read with
  ``weights_only=True``), loaded with ``from_single_file`` for SD 1.x, 2.x, SDXL and SD3;
* a hub id such as ``stabilityai/sdxl-turbo``: taken from the local Hugging Face cache, or
  downloaded when the hub is reachable.

Whatever is not available fails within about a second with :class:`ModelNotFound`, saying
what to pass instead; there is never a long retry loop against an unreachable hub.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from synthmark.choices import Device, DType
from synthmark.errors import ModelNotFound, UsageError
from synthmark.generate.tiny import (
    TINY_MODEL,
    TINY_MODEL_ID,
    TINY_MODEL_VERSION,
    build_tiny_pipeline,
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
_ALTERNATIVES = (
    "pass --model tiny (built in), a local diffusers folder, a .safetensors/.ckpt "
    "checkpoint, or a hub id that is in the local Hugging Face cache"
)


@dataclass
class ModelHandle:
    """A loaded pipeline and what the labels and the registry say about it."""

    pipeline: Any = field(repr=False)
    model_id: str
    model_hash: str
    family: str
    source: str
    device: str
    dtype: str

    @property
    def pipeline_class(self) -> str:
        """Class name of the diffusers pipeline, e.g. ``StableDiffusionXLPipeline``."""
        return type(self.pipeline).__name__


def resolve_device(device: Device | str = Device.auto) -> str:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an unavailable choice is an error."""
    import torch

    name = Device(device).value
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda was asked for, but no CUDA device is available; use --device cpu or auto"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UsageError(
            "--device mps was asked for, but MPS is not available; use --device cpu or auto"
        )
    return name


def resolve_dtype(dtype: DType | str, device: str) -> Any:
    """``auto`` is float16 on CUDA and float32 elsewhere."""
    import torch

    name = DType(dtype).value
    if name == "auto":
        name = "float16" if device == "cuda" else "float32"
    return getattr(torch, name)


def _dtype_kwargs(torch_dtype: Any) -> dict[str, Any]:
    """diffusers >= 0.42 calls the loading precision ``dtype``; older releases ``torch_dtype``."""
    import diffusers
    from packaging.version import Version

    newer = Version(diffusers.__version__).release >= (0, 42)
    return {"dtype" if newer else "torch_dtype": torch_dtype}


def _hub_reachable(timeout: float = 1.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json")
    return Path(found).parent if isinstance(found, str) else None


def _file_sha256(path: Path, cache_dir: Path | None) -> str:
    """sha256 of a (large) file, cached by path, size and modification time."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = cache_dir / "model_hashes.json" if cache_dir else None
    cache: dict[str, str] = {}
    if cache_file and cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    if cache_file:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache[key] = value
            cache_file.write_text(json.dumps(cache))
        except OSError:
            pass  # the cache is an optimisation; the hash itself is correct
    return value


def _folder_hash(folder: Path, cache_dir: Path | None) -> str:
    """Hash of a diffusers folder: its UNet (or transformer) weights, else its configs."""
    for sub in ("unet", "transformer"):
        for name in (
            "diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors",
            "diffusion_pytorch_model.bin",
        ):
            candidate = folder / sub / name
            if candidate.is_file():
                return _file_sha256(candidate, cache_dir)
    digest = hashlib.sha256()
    for cfg in sorted(folder.rglob("*.json")):
        digest.update(cfg.relative_to(folder).as_posix().encode())
        digest.update(cfg.read_bytes())
    return digest.hexdigest()


class _LazyCheckpoint:
    """Enough of a state dict for diffusers' model-type inference, without loading tensors."""

    def __init__(self, path: Path) -> None:
        from safetensors import safe_open

        self._handle = safe_open(str(path), framework="pt")
        self._keys = set(self._handle.keys())

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> set[str]:
        return self._keys

    def __getitem__(self, key: str) -> Any:
        import torch

        class _Shape:
            shape = torch.Size(self._handle.get_slice(key).get_shape())

        return _Shape()


def _single_file_family(path: Path) -> str:
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    try:
        if path.suffix == ".safetensors":
            checkpoint: Any = _LazyCheckpoint(path)
        else:
            import torch

            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            checkpoint = checkpoint.get("state_dict", checkpoint)
        model_type = str(infer_diffusers_model_type(checkpoint))
    except Exception as exc:
        raise ModelNotFound(
            f"{path}: not a readable Stable Diffusion checkpoint ({type(exc).__name__}: {exc}); "
            f"{_ALTERNATIVES}"
        ) from None
    return model_type


def _pipeline_class_for(model_type: str, path: Path) -> Any:
    import diffusers

    if model_type in ("v1", "v2"):
        return diffusers.StableDiffusionPipeline
    if model_type in ("xl_base", "playground-v2-5"):
        return diffusers.StableDiffusionXLPipeline
    if model_type.startswith("sd3"):
        if not hasattr(diffusers, "StableDiffusion3Pipeline"):
            raise ModelNotFound(f"{path}: SD3 needs a newer diffusers than {diffusers.__version__}")
        return diffusers.StableDiffusion3Pipeline
    raise ModelNotFound(
        f"{path}: checkpoint looks like {model_type!r}, not a text-to-image Stable Diffusion "
        f"model (SD 1.x, 2.x, SDXL or SD3)"
    )


def _family_of(pipeline: Any) -> str:
    name = type(pipeline).__name__
    if "XL" in name:
        return "sdxl"
    if "3" in name:
        return "sd3"
    text_dim = getattr(
        getattr(getattr(pipeline, "text_encoder", None), "config", None), "hidden_size", None
    )
    return "sd2" if text_dim == 1024 else "sd1"


def _finish(pipeline: Any, device: str, torch_dtype: Any) -> Any:
    """The pipeline on ``device`` in ``torch_dtype``, quiet, without diffusers' own mark."""
    pipeline = pipeline.to(device)
    if getattr(pipeline, "dtype", torch_dtype) != torch_dtype:
        pipeline = pipeline.to(dtype=torch_dtype)
    # diffusers' SDXL watermarker (dwtDct) leaves visible specks; synthmark marks instead.
    if getattr(pipeline, "watermark", None) is not None:
        pipeline.watermark = None
    if hasattr(pipeline, "set_progress_bar_config"):
        pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _handle(
    pipeline: Any, model_id: str, model_hash: str, source: str, device: str, torch_dtype: Any
) -> ModelHandle:
    """A loaded pipeline, finished (:func:`_finish`) and described."""
    pipeline = _finish(pipeline, device, torch_dtype)
    dtype_name = str(torch_dtype).replace("torch.", "")
    return ModelHandle(
        pipeline, model_id, model_hash, _family_of(pipeline), source, device, dtype_name
    )


def load_model(
    spec: str,
    *,
    device: Device | str = Device.auto,
    dtype: DType | str = DType.auto,
    config: str | os.PathLike[str] | None = None,
    hash_cache: Path | None = None,
) -> ModelHandle:
    """Load the text-to-image model named by ``spec`` (see the module docstring).

    ``config`` is a local diffusers folder whose configs a single-file checkpoint should
    use when they are not in the Hugging Face cache.

    Raises:
        ModelNotFound: the model is not available here, with what to pass instead.
        UsageError: a device or dtype that cannot work.
    """
    if not spec or not spec.strip():
        raise UsageError(f"--model is empty; {_ALTERNATIVES}")
    spec = spec.strip()
    if spec == TINY_MODEL:
        dev = resolve_device(device)
        tiny_dtype = DType.float32 if DType(dtype) == DType.auto else dtype
        pipeline = _finish(build_tiny_pipeline(), dev, resolve_dtype(tiny_dtype, dev))
        return ModelHandle(
            pipeline,
            TINY_MODEL_ID,
            f"tiny-v{TINY_MODEL_VERSION}-seed0",
            "tiny",
            "built-in",
            dev,
            str(pipeline.dtype).replace("torch.", ""),
        )

    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelNotFound(
                f"{path}: folder has no model_index.json, so it is not a "
                f"diffusers pipeline; {_ALTERNATIVES}"
            )
        return _load_folder(path, spec, device, dtype, hash_cache, source="folder")
    if path.is_file():
        if path.suffix.lower() not in _SINGLE_FILE_SUFFIXES:
            raise ModelNotFound(
                f"{path}: expected a .safetensors or .ckpt checkpoint; {_ALTERNATIVES}"
            )
        return _load_single_file(path, device, dtype, config, hash_cache)
    looks_like_path = (
        spec.startswith((".", "/", "~"))
        or os.sep in spec.replace("/", "", 1)
        or path.suffix.lower() in _SINGLE_FILE_SUFFIXES
    )
    if not _HUB_ID.match(spec) or looks_like_path:
        raise ModelNotFound(f"model {spec!r}: no such file or folder; {_ALTERNATIVES}")
    snapshot = _cached_snapshot(spec)
    if snapshot is not None:
        return _load_folder(
            snapshot, spec, device, dtype, hash_cache, source=f"hub cache ({snapshot.name[:12]})"
        )
    if not _hub_reachable():
        raise ModelNotFound(
            f"model {spec!r} is not in the local Hugging Face cache and the hub cannot be "
            f"reached (offline, or HF_HUB_OFFLINE=1); {_ALTERNATIVES}"
        )
    return _load_hub(spec, device, dtype, hash_cache)


def _load_folder(
    folder: Path,
    model_id: str,
    device: Device | str,
    dtype: DType | str,
    hash_cache: Path | None,
    source: str,
) -> ModelHandle:
    from diffusers import AutoPipelineForText2Image

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        pipeline = AutoPipelineForText2Image.from_pretrained(
            str(folder), local_files_only=True, **_dtype_kwargs(torch_dtype)
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"{model_id}: cannot load the diffusers pipeline ({exc})") from None
    return _handle(pipeline, model_id, _folder_hash(folder, hash_cache), source, dev, torch_dtype)


def _load_hub(
    repo_id: str, device: Device | str, dtype: DType | str, hash_cache: Path | None
) -> ModelHandle:
    from diffusers import AutoPipelineForText2Image
    from huggingface_hub import snapshot_download

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        folder = Path(snapshot_download(repo_id))
        pipeline = AutoPipelineForText2Image.from_pretrained(
            str(folder), **_dtype_kwargs(torch_dtype)
        )
    except Exception as exc:
        raise ModelNotFound(
            f"model {repo_id!r} could not be downloaded ({exc}); {_ALTERNATIVES}"
        ) from None
    model_hash = _folder_hash(folder, hash_cache)
    return _handle(pipeline, repo_id, model_hash, f"hub ({folder.name[:12]})", dev, torch_dtype)


def _load_single_file(
    path: Path,
    device: Device | str,
    dtype: DType | str,
    config: str | os.PathLike[str] | None,
    hash_cache: Path | None,
) -> ModelHandle:
    model_type = _single_file_family(path)
    cls = _pipeline_class_for(model_type, path)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    kwargs: dict[str, Any] = _dtype_kwargs(torch_dtype)
    if config is not None:
        kwargs["config"] = str(config)
    if not _hub_reachable():
        kwargs["local_files_only"] = True
    try:
        pipeline = cls.from_single_file(str(path), **kwargs)
    except Exception as exc:
        raise ModelNotFound(
            f"{path}: could not build a {cls.__name__} from this {model_type} checkpoint "
            f"({type(exc).__name__}: {exc}). Offline, single-file loading needs the model's "
            f"configs: pass --config with a local diffusers folder of the same family"
        ) from None
    model_hash = _file_sha256(path, hash_cache)
    source = f"single file ({model_type})"
    return _handle(pipeline, path.name, model_hash, source, dev, torch_dtype)


__all__ = ["DType", "Device", "ModelHandle", "load_model", "resolve_device", "resolve_dtype"]
