"""A pretrained timm backbone as a frozen feature extractor (the UnivFD recipe, any timm model).

Weights come from where the user already has them, never from the network:

* ``pretrained_file``: a local ``.safetensors`` checkpoint, handed to timm through
  ``pretrained_cfg_overlay={"file": ...}`` (timm's own mechanism for local weights);
* otherwise the Hugging Face hub cache, read with ``HF_HUB_OFFLINE=1`` semantics: if the
  weights are not cached, :class:`~synthmark.errors.ModelNotFound` says how to provide them.

Only safetensors files are accepted: a ``.pth``/``.bin`` would go through ``torch.load``
(pickle). A detector saved with this extractor stores the backbone's name, the weights'
SHA-256 and the file path, not the weights; loading checks the digest.

The image is centre-cropped (grid-aligned, no resize) to ``input_size`` and normalised
with the backbone's pretrained mean and standard deviation; the pooled embedding is the
feature vector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.detect.preprocess import GRID
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError


def state_dict_sha256(state: dict[str, Any]) -> str:
    """A digest of a state dict's names, shapes and values (independent of file format)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key]
        arr = (
            tensor.detach().cpu().contiguous().numpy()
            if hasattr(tensor, "detach")
            else np.asarray(tensor)
        )
        digest.update(key.encode())
        digest.update(str(tuple(arr.shape)).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


@register_extractor("timm")
class TimmBackbone(FeatureExtractor):
    """Pooled embedding of a frozen, pretrained timm backbone (hub cache or local safetensors)."""

    def __init__(
        self,
        model: str = "resnet18",
        pretrained_file: str | None = None,
        input_size: int = 224,
        batch_size: int = 16,
        weights_sha256: str | None = None,
    ) -> None:
        self.model = model
        self.pretrained_file = pretrained_file
        self.input_size = input_size
        self.batch_size = batch_size
        self.weights_sha256 = weights_sha256


    def _network(self) -> Any:
        net = getattr(self, "network_", None)
        if net is not None:
            return net
        import timm
        import torch

        overlay: dict[str, Any] = {}
        if self.pretrained_file is not None:
            path = Path(self.pretrained_file).expanduser()
            if path.suffix.lower() != ".safetensors":
                raise UnsafeFile(
                    f"{path}: only .safetensors weights are loaded (a "
                    f"{path.suffix or 'suffix-less'} "
                    "file would be unpickled); convert it with safetensors.torch.save_file"
                )
            if not path.is_file():
                raise ModelNotFound(f"{path}: no such weights file")
            overlay = {"file": str(path)}
        try:
            net = timm.create_model(
                self.model, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay or None
            )
        except RuntimeError as exc:
            if "timm" in str(exc) and "Unknown model" in str(exc):
                raise UsageError(f"unknown timm model {self.model!r}") from None
            raise ModelNotFound(
                f"cannot load weights for timm model {self.model!r} ({exc}); pass "
                "pretrained_file=<weights>.safetensors"
            ) from None
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"no pretrained weights for timm model {self.model!r} in the hub cache and no "
                f"pretrained_file given ({exc.__class__.__name__}: {exc}); download them where "
                "you have network access, or pass pretrained_file=<weights>.safetensors"
            ) from None
        net.eval()
        digest = state_dict_sha256(net.state_dict())
        if self.weights_sha256 is not None and digest != self.weights_sha256:
            raise ModelNotFound(
                f"the weights found for {self.model!r} (sha256 {digest[:12]}...) are not the ones "
                f"this detector was trained with ({self.weights_sha256[:12]}...)"
            )
        self.weights_sha256 = digest
        cfg = timm.data.resolve_data_config({}, model=net)
        self.mean_ = torch.tensor(cfg["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std_ = torch.tensor(cfg["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.network_ = net
        return net

    def _crop(self, image: Image.Image) -> np.ndarray:
        s = self.input_size
        rgb = image.convert("RGB")
        w, h = rgb.size
        if w < s or h < s:
            raise UsageError(f"image of {w}x{h} px is smaller than the backbone input {s}x{s}")
        left = ((w - s) // 2) // GRID * GRID
        top = ((h - s) // 2) // GRID * GRID
        return np.asarray(rgb.crop((left, top, left + s, top + s)), dtype=np.float32) / 255.0

    def transform(self, images: Sequence[Image.Image]) -> Features:
        import torch

        net = self._network()
        rows = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                batch = np.stack([self._crop(im) for im in images[i : i + self.batch_size]])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2)
                x = (x - self.mean_) / self.std_
                rows.append(net(x).float().numpy())
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate(rows).astype(np.float32)

    def transform_one(self, image: Image.Image) -> Features:
        return self.transform([image])[0]

    def describe(self) -> str:
        source = self.pretrained_file or "hub cache"
        digest = str(self.weights_sha256)[:12]
        return f"frozen timm {self.model} ({source}, sha256 {digest}), pooled embedding"


__all__ = ["TimmBackbone", "state_dict_sha256"]
