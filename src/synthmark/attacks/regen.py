"""The regeneration attack: an image encoded and decoded by a tiny generative autoencoder.

Re-synthesising an image through a generative autoencoder is the attack that removes most
post-hoc watermarks in published benchmarks (WAVES, Saberi et al. 2024): the decoder draws
the picture's details anew. The autoencoder here is TAEF2, the FLUX.2-latent variant of
madebyollin's TAESD (MIT licence): 3x3 convolutions in residual blocks, three 2x
down-/up-samplings, 32 latent channels at 1/8 of the size, and in the deepest blocks a
1x1 -> group norm -> 1x1 branch added before the block. The architecture is written here
from that description; the weights are the project's safetensors copies (no unpickling).

>>> regen = Regenerator(Path("../shared/models/taef2"))          # doctest: +SKIP
>>> regen(image).size == image.size                             # doctest: +SKIP
True

The weights are found in the folder given, else ``$SYNTHMARK_REGEN_WEIGHTS``, else
``models/taef2`` under the synthmark home folder (:func:`weights_folder`). torch is
imported only when an image is regenerated.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from synthmark.errors import ModelNotFound
from synthmark.settings import REGEN_ENV, Settings

__all__ = ["REGEN_ENV", "Regenerator", "weights_folder"]

_FILES = ("taef2_encoder.safetensors", "taef2_decoder.safetensors")
#: blocks of the encoder and decoder that carry the group-norm branch, by index
_ENCODER_NORMED = (11, 12, 13)
_DECODER_NORMED = (3, 4, 5)


def weights_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """Where the TAEF2 weights are looked for: ``folder``, else ``$SYNTHMARK_REGEN_WEIGHTS``,
    else ``models/taef2`` under the home folder."""
    if folder is not None:
        return Path(folder).expanduser()
    settings = Settings.from_env()
    return settings.regen_weights or settings.models_dir / "taef2"


def _build(kind: str, latent: int) -> Any:
    """The encoder (``kind == "encoder"``) or decoder of the TAESD architecture."""
    import torch
    from torch import nn

    def conv(n_in: int, n_out: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
        return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)

    class Block(nn.Module):
        """Three 3x3 convolutions with a residual path; with ``normed``, a 1x1 -> group
        norm (4 groups) -> 1x1 branch is first added to the input."""

        def __init__(self, normed: bool) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                conv(64, 64), nn.ReLU(), conv(64, 64), nn.ReLU(), conv(64, 64)
            )
            self.pool: nn.Module | None = None
            if normed:
                self.pool = nn.Sequential(
                    nn.Conv2d(64, 256, 1, bias=False),
                    nn.GroupNorm(4, 256),
                    nn.ReLU(),
                    nn.Conv2d(256, 64, 1, bias=False),
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.pool is not None:
                x = x + self.pool(x)
            return torch.relu(self.conv(x) + x)

    class Squash(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x / 3) * 3

    def blocks(first: int, normed: tuple[int, ...]) -> list[nn.Module]:
        """Three blocks at indices ``first``.. of the sequence."""
        return [Block(first + i in normed) for i in range(3)]

    layers: list[nn.Module] = []
    if kind == "encoder":
        layers += [conv(3, 64), Block(False)]
        for _ in range(3):  # 2x down, then three blocks
            layers.append(conv(64, 64, stride=2, bias=False))
            layers += blocks(len(layers), _ENCODER_NORMED)
        layers.append(conv(64, latent))
    else:
        layers += [Squash(), conv(latent, 64), nn.ReLU()]
        for _ in range(3):  # three blocks, then 2x up
            layers += blocks(len(layers), _DECODER_NORMED)
            layers += [nn.Upsample(scale_factor=2), conv(64, 64, bias=False)]
        layers += [Block(False), conv(64, 3)]
    return nn.Sequential(*layers)


class Regenerator:
    """Encode and decode an image with TAEF2 (loaded on first use, float32 on the CPU).

    Args:
        folder: the folder of ``taef2_encoder.safetensors`` and ``taef2_decoder.safetensors``
            (see :func:`weights_folder`).
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = weights_folder(folder)
        self._nets: tuple[Any, Any] | None = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether both weight files are there."""
        return all((self.folder / name).is_file() for name in _FILES)

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._nets is None:
                self._nets = (self._net("encoder"), self._net("decoder"))
            return self._nets

    def _net(self, kind: str) -> Any:
        from safetensors.torch import load_file

        path = self.folder / f"taef2_{kind}.safetensors"
        if not path.is_file():
            raise ModelNotFound(
                f"the regeneration attack needs {path} (TAEF2 from madebyollin/taesd, as "
                f"safetensors); point {REGEN_ENV} at the folder that holds it"
            )
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        # the encoder's last convolution makes the latent; the decoder's first reads it
        shape = state["14.weight"].shape if kind == "encoder" else state["1.weight"].shape
        latent = int(shape[0] if kind == "encoder" else shape[1])
        net = _build(kind, latent)
        result = net.load_state_dict(state, strict=True)  # raises on any missing/extra tensor
        if result.missing_keys or result.unexpected_keys:  # pragma: no cover - strict raised
            raise ModelNotFound(f"{path} does not match the TAEF2 architecture")
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def __call__(self, image: Image.Image, _: float = float("nan")) -> Image.Image:
        """``image`` (RGB) through the encoder and the decoder, same size."""
        import torch

        encoder, decoder = self._load()
        rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
        h, w = rgb.shape[:2]
        ph, pw = -h % 8, -w % 8  # the latent is 1/8 of the size: pad by reflection
        padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))[None]
        with torch.inference_mode():
            out = decoder(encoder(x)).clamp(0.0, 1.0)[0, :, :h, :w]
        pixels = np.rint(out.numpy().transpose(1, 2, 0) * 255.0).astype(np.uint8)
        return Image.fromarray(pixels, "RGB")
