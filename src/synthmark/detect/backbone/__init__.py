"""The detector's pretrained backbone: an ImageNet MobileNetV2 read from a pinned TFLite file.

* :mod:`~synthmark.detect.backbone.tflite`: a bounds-checked reader of ``.tflite`` files;
* :mod:`~synthmark.detect.backbone.mobilenet`: the conversion into timm's ``mobilenetv2_100``;
* :mod:`~synthmark.detect.backbone.reference`: the graph run op by op, to check the conversion;
* :mod:`~synthmark.detect.backbone.weights`: pinned files and where they are found.

>>> net = load_mobilenet(Settings.from_env())   # doctest: +SKIP
>>> net(torch.zeros(1, 3, 224, 224)).shape      # doctest: +SKIP
torch.Size([1, 1001])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synthmark.detect.backbone.weights import MOBILENET_V2, PinnedFile, resolve_weights

if TYPE_CHECKING:
    from torch import nn

    from synthmark.settings import Settings


def load_mobilenet(
    settings: Settings, pinned: PinnedFile = MOBILENET_V2, url: str | None = None
) -> nn.Module:
    """The pinned TFLite MobileNetV2 as a float PyTorch network in eval mode.

    Raises:
        ModelNotFound: the file is missing everywhere, or its sha256 is wrong.
        UsageError: the (pinned) bytes are not a MobileNetV2 graph.
    """
    from synthmark.detect.backbone.mobilenet import mobilenet_from_tflite
    from synthmark.detect.backbone.tflite import read_tflite

    data, where = resolve_weights(pinned, settings, url)
    return mobilenet_from_tflite(read_tflite(data, where))


__all__ = ["load_mobilenet"]
