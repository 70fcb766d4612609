"""A small CNN trained from scratch on CPU, on residual patches (for when no weights exist).

The network sees ``patch`` x ``patch`` crops taken on the 8-pixel grid, minus their local
3x3 mean (a fixed high-pass, so that it starts from the residual, not from the subject), and
keeps full resolution in its first two layers (forensic networks must not pool away the
traces). It is trained with binary cross-entropy on class-balanced patches; its embedding
(global average of the last layer) is averaged over the patches of an image and handed to
the head.

It learns what the training data lets it learn: on small, content-confounded sets it
keys on content. Compare it with the weight-free ``grid`` extractor before shipping it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.detect.preprocess import GRID
from synthmark.errors import UsageError


def _build_network(width: int) -> Any:
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    class ResidualCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                block(3, width, 1),
                block(width, width, 1),
                block(width, 2 * width, 2),
                block(2 * width, 2 * width, 1),
                block(2 * width, 4 * width, 2),
                block(4 * width, 4 * width, 1),
            )
            self.fc = nn.Linear(4 * width, 1)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
            x = (x - nn.functional.avg_pool2d(padded, 3, 1)) / 16.0
            return self.body(x).mean(dim=(2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.embed(x)).squeeze(1)

    return ResidualCNN()


@register_extractor("cnn")
class SmallResidualCNN(FeatureExtractor):
    """A 6-layer CNN on high-pass residual patches, trained from scratch on CPU."""

    trainable = True

    def __init__(
        self,
        width: int = 16,
        patch: int = 64,
        patches_per_image: int = 8,
        max_patches: int = 64,
        epochs: int = 3,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        random_state: int = 0,
    ) -> None:
        self.width = width
        self.patch = patch
        self.patches_per_image = patches_per_image
        self.max_patches = max_patches
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state


    def _positions(self, w: int, h: int) -> list[tuple[int, int]]:
        p = self.patch
        return [
            (x, y)
            for y in range(0, h - p + 1, GRID * (p // GRID))
            for x in range(0, w - p + 1, GRID * (p // GRID))
        ]

    def _patches(
        self, image: Image.Image, rng: np.random.Generator | None, n: int
    ) -> NDArray[np.uint8]:
        p = self.patch
        arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
        h, w = arr.shape[:2]
        if h < p or w < p:
            raise UsageError(f"image of {w}x{h} px is smaller than the CNN patch {p}x{p}")
        if rng is None:
            pos = self._positions(w, h)
            if len(pos) > n:
                keep = np.linspace(0, len(pos) - 1, n).round().astype(int)
                pos = [pos[i] for i in keep]
        else:
            xs = rng.integers(0, (w - p) // GRID + 1, n) * GRID
            ys = rng.integers(0, (h - p) // GRID + 1, n) * GRID
            pos = list(zip(xs.tolist(), ys.tolist(), strict=True))
        return np.stack([arr[y : y + p, x : x + p] for x, y in pos])

    def fit(self, images: Sequence[Image.Image], labels: NDArray[np.int_]) -> SmallResidualCNN:
        import torch

        if self.patch % GRID or self.patch < 16:
            raise UsageError(f"CNN patch must be a multiple of 8 and >= 16, got {self.patch}")
        labels = np.asarray(labels)
        if set(np.unique(labels).tolist()) != {0, 1}:
            raise UsageError("the CNN extractor needs images of both classes to train")
        rng = np.random.default_rng(self.random_state)
        torch.manual_seed(self.random_state)
        net = _build_network(self.width)
        opt = torch.optim.AdamW(net.parameters(), lr=self.learning_rate, weight_decay=1e-4)
        n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
        # Balanced classes: the smaller class gets proportionally more patches per image.
        per = {1: self.patches_per_image, 0: self.patches_per_image}
        if n_pos > n_neg:
            per[0] = max(1, round(self.patches_per_image * n_pos / n_neg))
        else:
            per[1] = max(1, round(self.patches_per_image * n_neg / n_pos))
        for _ in range(self.epochs):
            xs, ys = [], []
            for im, y in zip(images, labels, strict=True):
                pts = self._patches(im, rng, per[int(y)])
                xs.append(pts)
                ys.append(np.full(len(pts), float(y), dtype=np.float32))
            x_all, y_all = np.concatenate(xs), np.concatenate(ys)
            order = rng.permutation(len(x_all))
            net.train()
            for i in range(0, len(order), self.batch_size):
                idx = order[i : i + self.batch_size]
                xb = torch.from_numpy(x_all[idx]).permute(0, 3, 1, 2).float()
                if rng.random() < 0.5:
                    xb = xb.flip(3)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    net(xb), torch.from_numpy(y_all[idx])
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        self.network_ = net
        return self

    def _net(self) -> Any:
        net = getattr(self, "network_", None)
        if net is None:
            raise UsageError(
                "the CNN extractor is not trained: call fit() or load a trained detector"
            )
        return net

    def transform_one(self, image: Image.Image) -> Features:
        import torch

        net = self._net()
        pts = self._patches(image, None, self.max_patches)
        with torch.inference_mode():
            x = torch.from_numpy(pts).permute(0, 3, 1, 2).float()
            emb = net.embed(x)
            logit = net.fc(emb).mean()
        return np.concatenate([emb.mean(0).numpy(), [float(logit)]]).astype(np.float32)

    def state_arrays(self) -> dict[str, NDArray[Any]]:
        net = self._net()
        return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}

    def load_state_arrays(self, arrays: dict[str, NDArray[Any]]) -> None:
        import torch

        net = _build_network(self.width)
        state = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
        result = net.load_state_dict(state, strict=True)
        if (
            result.missing_keys or result.unexpected_keys
        ):  # strict=True raises first; belt and braces
            raise UsageError(f"CNN weights do not match: {result}")
        net.eval()
        self.network_ = net


__all__ = ["SmallResidualCNN"]
