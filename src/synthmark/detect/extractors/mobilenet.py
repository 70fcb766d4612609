"""Pooled activations of several layers of an ImageNet MobileNetV2 (pinned TFLite weights).

The backbone comes from the pinned TFLite file (:mod:`synthmark.detect.backbone`), found in
the home cache, in ``$SYNTHMARK_MODELS`` or downloaded and sha256-checked; the detector
stores only the file's name and digest, never the weights. A missing file raises
:class:`~synthmark.errors.ModelNotFound` in one line that says how to get it, once: the
failure is remembered, so a batch does not retry it for every image.

Each image (a canonical tile, see :mod:`synthmark.detect.preprocess`) goes through the
network at its own size, never resized: the network is fully convolutional, and resizing
would erase the fine texture a generator leaves. From each named layer the mean over
positions of every channel is taken (what the layer sees on average), and with ``std``
also its standard deviation (how much it varies: texture); ``stats`` names other per-channel
statistics instead (:data:`STATS`: ``absmean``, the mean absolute activation, is the
activation's energy whatever its sign). Early layers see pixels and noise, late layers see
objects; the head weighs them. ``scales`` reads the same statistics again from copies of the
tile made smaller by 2x2 (or 4x4) average pooling inside the network: ``[1, 0.5]`` gives the
tile's statistics and those of its half-size copy, side by side.

Input scaling is the TFLite graph's own: ``x / 127.5 - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from synthmark.detect.extractors.base import FeatureExtractor, Features, register_extractor
from synthmark.errors import ModelNotFound, UsageError

#: Where activations are read by default: the outputs of the first stages (strides 4, 8
#: and 16), which see texture and noise more than objects. On the shared data, held out
#: family by family, they generalised best (docs/detector.md); the later stages and the
#: 1280-channel pooled embedding (``bn2``) learned the subjects of the training sources.
LAYERS = ("blocks.1", "blocks.2", "blocks.3")
#: Channels at each readable layer of ``mobilenetv2_100``.
CHANNELS = {
    "blocks.0": 16,
    "blocks.1": 24,
    "blocks.2": 32,
    "blocks.3": 64,
    "blocks.4": 96,
    "blocks.5": 160,
    "blocks.6": 320,
    "bn2": 1280,
}
MIN_SIDE = 32
#: Per-channel statistics over positions that ``stats`` may name.
STATS = ("mean", "std", "absmean")
#: Scales ``scales`` may name: 1 (the tile as it is) and copies shrunk by average pooling.
SCALES = (1.0, 0.5, 0.25)


@register_extractor("mobilenetv2")
class MobileNetV2Features(FeatureExtractor):
    """Mean (and spread) of the activations of several MobileNetV2 layers (ImageNet weights)."""

    def __init__(
        self,
        layers: Sequence[str] = LAYERS,
        std: bool = True,
        weights: str = "tf2_mobilenet_v2_1.0_224_ptq.tflite",
        batch_size: int = 8,
        stats: Sequence[str] | None = None,
        scales: Sequence[float] = (1.0,),
    ) -> None:
        self.layers = layers
        self.std = std
        self.weights = weights
        self.batch_size = batch_size
        self.stats = stats
        self.scales = scales

    @property
    def statistics(self) -> tuple[str, ...]:
        """The statistics read per channel, in order: ``stats``, or mean (and std)."""
        if self.stats is not None:
            return tuple(self.stats)
        return ("mean", "std") if self.std else ("mean",)

    @property
    def n_features(self) -> int:
        """Length of the feature vector."""
        per_scale = sum(CHANNELS[name] for name in self.layers) * len(self.statistics)
        return per_scale * len(self.scales)

    def _check(self) -> None:
        from synthmark.detect.backbone.weights import PINNED

        bad = [name for name in self.layers if name not in CHANNELS]
        if bad or not self.layers:
            raise UsageError(f"unknown MobileNetV2 layer {bad}; known: {', '.join(CHANNELS)}")
        bad_stats = [s for s in self.statistics if s not in STATS]
        if bad_stats or not self.statistics:
            raise UsageError(f"unknown statistic {bad_stats}; known: {', '.join(STATS)}")
        bad_scales = [s for s in self.scales if float(s) not in SCALES]
        if bad_scales or not self.scales:
            raise UsageError(f"unknown scale {bad_scales}; known: {', '.join(map(str, SCALES))}")
        if self.weights not in PINNED:
            raise UsageError(
                f"unknown backbone weights {self.weights!r}; known: {', '.join(sorted(PINNED))}"
            )

    def bind(self, network: Any) -> MobileNetV2Features:
        """Use ``network`` (a :func:`~synthmark.detect.backbone.mobilenet.build_mobilenet`)
        instead of the pinned weights: tests with random weights, or a fine-tuned copy.

        The weights are kept channels-last, the layout of the images (NHWC arrays): on CPU
        that makes the depthwise convolutions about 40% faster."""
        import torch

        network.eval()
        self.network_ = network.to(memory_format=torch.channels_last)
        return self

    def _network(self) -> Any:
        net = getattr(self, "network_", None)
        if net is not None:
            return net
        failure = getattr(self, "load_error_", None)
        if failure is not None:
            raise ModelNotFound(failure)
        from synthmark.detect.backbone import load_mobilenet
        from synthmark.detect.backbone.weights import PINNED
        from synthmark.settings import Settings

        self._check()
        try:
            net = load_mobilenet(Settings.from_env(), PINNED[self.weights])
        except ModelNotFound as exc:
            self.load_error_ = str(exc)
            raise
        return self.bind(net).network_

    def forward(self, batch: Any) -> Any:
        """Features of a float NCHW batch already scaled to [-1, 1] (differentiable).

        The network runs only as deep as the deepest layer read: with the early blocks
        alone, the later (and costlier per pixel of output) ones are never computed. Each
        of ``scales`` runs the network once, on the batch average-pooled to that scale.
        """
        import torch
        from torch.nn.functional import avg_pool2d

        parts = []
        for scale in self.scales:
            factor = round(1.0 / float(scale))
            shown = batch if factor == 1 else avg_pool2d(batch, factor)
            parts.append(self._stage_statistics(shown))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _stage_statistics(self, batch: Any) -> Any:
        """The ``statistics`` of every channel of each of ``layers`` for one input batch."""
        import torch

        net = self._network()
        wanted = set(self.layers)
        acts: dict[str, Any] = {}
        x = net.bn1(net.conv_stem(batch))
        for i, block in enumerate(net.blocks):
            if not wanted - set(acts):
                break
            x = block(x)
            acts[f"blocks.{i}"] = x
        if wanted - set(acts):
            acts["bn2"] = net.bn2(net.conv_head(x))
        parts = []
        for name in self.layers:
            act = acts[name].flatten(2)
            for stat in self.statistics:
                if stat == "mean":
                    parts.append(act.mean(dim=2))
                elif stat == "std":
                    parts.append(act.std(dim=2, unbiased=False))
                else:
                    parts.append(act.abs().mean(dim=2))
        return torch.cat(parts, dim=1)

    def transform(self, images: Sequence[Image.Image]) -> Features:
        import torch

        self._check()
        if not images:
            return np.zeros((0, self.n_features), dtype=np.float32)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            if min(im.size) < MIN_SIDE:
                raise UsageError(
                    f"image of {im.size[0]}x{im.size[1]} px is too small for "
                    f"MobileNetV2 features (at least {MIN_SIDE} px)"
                )
            by_size.setdefault(im.size, []).append(i)
        out = np.zeros((len(images), self.n_features), dtype=np.float32)
        with torch.inference_mode():
            for idx in by_size.values():
                for start in range(0, len(idx), max(1, self.batch_size)):
                    chunk = idx[start : start + max(1, self.batch_size)]
                    arr = np.stack([np.asarray(images[i].convert("RGB")) for i in chunk])
                    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1.0
                    out[chunk] = self.forward(x).numpy()
        return out

    def transform_one(self, image: Image.Image) -> Features:
        return self.transform([image])[0]

    def describe(self) -> str:
        from synthmark.detect.backbone.weights import PINNED

        kind = " and ".join(self.statistics)
        if tuple(float(x) for x in self.scales) != (1.0,):
            kind += f" at scales {', '.join(f'{float(x):g}' for x in self.scales)}"
        pinned = PINNED.get(self.weights)
        origin = (
            f"{pinned.filename}, sha256 {pinned.sha256[:16]}..., {pinned.licence}, from "
            f"{pinned.url}"
            if pinned
            else self.weights
        )
        return (
            f"{kind} of MobileNetV2 activations at {', '.join(self.layers)}, input never "
            f"resized; ImageNet weights from the pinned file {origin}"
        )


__all__ = ["CHANNELS", "LAYERS", "SCALES", "STATS", "MobileNetV2Features"]
