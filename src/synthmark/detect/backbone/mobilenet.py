"""An ImageNet MobileNetV2 from a TensorFlow Lite file, as a standard PyTorch network.

The TFLite file holds MobileNetV2 1.0 (224 px, 1001 classes with 0 = background) with batch
norm folded into the convolutions and the weights quantised. :func:`mobilenet_from_tflite`
dequantises every weight (``scale * (q - zero_point)``, per tensor or per channel) and
loads it into timm's ``mobilenetv2_100`` built with TensorFlow's "same" padding (the extra
row and column go right and bottom) and with each batch norm set to the identity plus the
folded bias, so the result is an ordinary ``torch.nn.Module`` that can be fine-tuned.

The mapping is by order, and checked as it goes: the graph's ``CONV_2D`` and
``DEPTHWISE_CONV_2D`` operators must meet timm's convolutions one for one, with the same
shape, stride and activation (ReLU6 or none); the 1x1 logits convolution becomes the
classifier. Anything else (another architecture, a truncated graph) is refused with the
first mismatch named.

Input: RGB in [0, 255], scaled as ``x / 127.5 - 1`` (:data:`INPUT_SCALE`), NCHW.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from synthmark.detect.backbone.tflite import Operator, TFLiteGraph
from synthmark.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

TIMM_NAME = "mobilenetv2_100"
N_CLASSES = 1001
#: ``x / 127.5 - 1`` maps [0, 255] to [-1, 1], as the TFLite graph's input quantisation does.
INPUT_SCALE = 127.5
#: Channels of the pooled embedding (``conv_head``).
EMBED_DIM = 1280


def build_mobilenet(num_classes: int = N_CLASSES) -> nn.Module:
    """timm's ``mobilenetv2_100`` with TF "same" padding and random weights."""
    import timm

    net: nn.Module = timm.create_model(
        TIMM_NAME, pretrained=False, pad_type="same", num_classes=num_classes
    )
    return net


def _conv_pairs(net: nn.Module) -> list[tuple[str, Any, Any]]:
    """(name, conv, the batch norm that follows it) for every convolution, in order."""
    from torch import nn

    pairs: list[tuple[str, Any, Any]] = []
    pending: tuple[str, Any] | None = None
    for name, mod in net.named_modules():
        if isinstance(mod, nn.Conv2d):
            if pending is not None:
                raise UsageError(f"{pending[0]} has no batch norm after it")
            pending = (name, mod)
        elif isinstance(mod, nn.BatchNorm2d) and pending is not None:
            pairs.append((pending[0], pending[1], mod))
            pending = None
    return pairs


def _act_name(bn: Any) -> str:
    from torch import nn

    act = getattr(bn, "act", None)
    return "RELU6" if isinstance(act, nn.ReLU6) else "NONE"


def _check(op: Operator, name: str, conv: Any, bn: Any, weight: np.ndarray) -> None:
    stride = (int(op.options.get("stride_h", 1)), int(op.options.get("stride_w", 1)))
    problems = []
    if tuple(weight.shape) != tuple(conv.weight.shape):
        problems.append(f"weights {tuple(weight.shape)} vs {tuple(conv.weight.shape)}")
    if stride != tuple(conv.stride):
        problems.append(f"stride {stride} vs {tuple(conv.stride)}")
    if op.options.get("activation", "NONE") != _act_name(bn):
        problems.append(f"activation {op.options.get('activation')} vs {_act_name(bn)}")
    if op.options.get("padding") != "SAME":
        problems.append(f"padding {op.options.get('padding')}")
    if problems:
        raise UsageError(
            f"the TFLite graph does not match {TIMM_NAME} at {name} ({op.op}): "
            + "; ".join(problems)
        )


def _torch_layout(op: Operator, w: np.ndarray) -> np.ndarray:
    if op.op == "DEPTHWISE_CONV_2D":  # (1, kh, kw, C) -> (C, 1, kh, kw)
        return np.ascontiguousarray(w.transpose(3, 0, 1, 2))
    return np.ascontiguousarray(w.transpose(0, 3, 1, 2))  # OHWI -> OIHW


def state_dict_from_tflite(graph: TFLiteGraph, net: nn.Module) -> dict[str, Any]:
    """The state dict of ``net`` (a :func:`build_mobilenet`) holding the graph's weights."""
    import torch

    convs = [op for op in graph.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    pairs = _conv_pairs(net)
    if len(convs) != len(pairs) + 1:
        raise UsageError(
            f"the TFLite graph has {len(convs)} convolutions; {TIMM_NAME} needs "
            f"{len(pairs)} plus the logits"
        )
    state = {k: v.clone() for k, v in net.state_dict().items()}
    modules = dict(net.named_modules())
    for op, (name, conv, bn) in zip(convs, pairs, strict=False):
        w = _torch_layout(op, graph.weights(op.inputs[1]))
        _check(op, name, conv, bn, w)
        bias = graph.weights(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        bn_name = next(n for n, m in modules.items() if m is bn)
        state[f"{name}.weight"] = torch.from_numpy(w)
        n_out = w.shape[0]
        state[f"{bn_name}.weight"] = torch.ones(n_out)
        state[f"{bn_name}.bias"] = torch.from_numpy(
            bias.astype(np.float32) if bias is not None else np.zeros(n_out, np.float32)
        )
        state[f"{bn_name}.running_mean"] = torch.zeros(n_out)
        # (x - 0) / sqrt(var + eps) is x exactly when var = 1 - eps: the norm is folded.
        state[f"{bn_name}.running_var"] = torch.full((n_out,), 1.0 - float(bn.eps))
    logits = convs[-1]
    w = graph.weights(logits.inputs[1])
    classifier = net.get_classifier()  # type: ignore[operator]
    if w.shape[0] != classifier.out_features or int(np.prod(w.shape[1:])) != EMBED_DIM:
        raise UsageError(f"the TFLite logits {w.shape} do not fit {tuple(classifier.weight.shape)}")
    state["classifier.weight"] = torch.from_numpy(np.ascontiguousarray(w.reshape(w.shape[0], -1)))
    state["classifier.bias"] = torch.from_numpy(graph.weights(logits.inputs[2]).astype(np.float32))
    return state


def mobilenet_from_tflite(graph: TFLiteGraph) -> nn.Module:
    """A float PyTorch MobileNetV2 (eval mode) with the TFLite graph's weights."""
    net = build_mobilenet(N_CLASSES)
    state = state_dict_from_tflite(graph, net)
    net.load_state_dict(state, strict=True)
    net.eval()
    return net


__all__ = [
    "EMBED_DIM",
    "INPUT_SCALE",
    "N_CLASSES",
    "TIMM_NAME",
    "build_mobilenet",
    "mobilenet_from_tflite",
    "state_dict_from_tflite",
]
