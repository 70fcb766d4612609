"""Run a TFLite graph op by op, in float, with its dequantised weights: the reference
that the converted PyTorch network is checked against.

It follows the graph's own tensor wiring (not timm's module order), computes TensorFlow's
"same" padding itself (``pad_total = max((ceil(n / s) - 1) * s + k - n, 0)``, the smaller
half before), and keeps activations in float, as the dequantised graph would compute them
without the int8 rounding of each activation. It knows the operators of an ImageNet
MobileNet: ``CONV_2D``, ``DEPTHWISE_CONV_2D``, ``ADD``, ``AVERAGE_POOL_2D``, ``MEAN``,
``RESHAPE``, ``SOFTMAX`` and the no-ops ``QUANTIZE``/``DEQUANTIZE``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from synthmark.detect.backbone.tflite import Operator, TFLiteGraph
from synthmark.errors import UsageError


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _activate(x: Any, name: str) -> Any:
    if name == "RELU6":
        return x.clamp(0.0, 6.0)
    if name == "RELU":
        return x.clamp_min(0.0)
    if name != "NONE":
        raise UsageError(f"activation {name} is not supported by the reference")
    return x


def _conv(graph: TFLiteGraph, op: Operator, x: Any) -> Any:
    import torch
    import torch.nn.functional as F

    w = graph.weights(op.inputs[1])
    o = op.options
    if op.op == "DEPTHWISE_CONV_2D":
        weight = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 0, 1, 2)))
        groups = x.shape[1]
    else:
        weight = torch.from_numpy(np.ascontiguousarray(w.transpose(0, 3, 1, 2)))
        groups = 1
    kh, kw = weight.shape[2:]
    sh, sw = int(o["stride_h"]), int(o["stride_w"])
    if o["padding"] == "SAME":
        top, bottom = _same_pad(x.shape[2], kh, sh)
        left, right = _same_pad(x.shape[3], kw, sw)
        x = F.pad(x, (left, right, top, bottom))
    bias = None
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = torch.from_numpy(graph.weights(op.inputs[2]).astype(np.float32))
    y = F.conv2d(x, weight, bias, stride=(sh, sw), groups=groups)
    return _activate(y, str(o["activation"]))


def run_reference(graph: TFLiteGraph, images: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """The graph's output (softmax probabilities) for NHWC images already scaled to [-1, 1]."""
    import torch
    import torch.nn.functional as F

    values: dict[int, Any] = {
        graph.inputs[0]: torch.from_numpy(np.asarray(images, np.float32)).permute(0, 3, 1, 2)
    }
    with torch.no_grad():
        for op in graph.operators:
            x = values[op.inputs[0]]
            if op.op in ("QUANTIZE", "DEQUANTIZE"):
                y = x
            elif op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                y = _conv(graph, op, x)
            elif op.op == "ADD":
                y = _activate(x + values[op.inputs[1]], str(op.options["activation"]))
            elif op.op == "AVERAGE_POOL_2D":
                k = (int(op.options["filter_h"]), int(op.options["filter_w"]))
                y = F.avg_pool2d(x, k, stride=(op.options["stride_h"], op.options["stride_w"]))
            elif op.op == "MEAN":
                y = x.mean(dim=(2, 3), keepdim=True)
            elif op.op == "RESHAPE":
                y = x.reshape(x.shape[0], -1)
            elif op.op == "SOFTMAX":
                y = torch.softmax(x, dim=-1)
            else:
                raise UsageError(f"operator {op.op} is not supported by the reference")
            values[op.outputs[0]] = y
    out: NDArray[np.float32] = values[graph.outputs[0]].reshape(len(images), -1).numpy()
    return out


__all__ = ["run_reference"]
