"""Read a TensorFlow Lite model file: tensors, quantised weights and the operator list.

A ``.tflite`` file is a FlatBuffer (``TFL3`` identifier): tables reached through 32-bit
offsets, each with a vtable of 16-bit field offsets. This module reads the few tables an
image classifier needs (``Model``, ``SubGraph``, ``Tensor``, ``QuantizationParameters``,
``Operator``, ``OperatorCode``, ``Buffer``) straight from the bytes, with every offset
checked against the file's length, so random bytes, a truncated download or a pickle are
refused with :class:`~synthmark.errors.UsageError` naming what is wrong. Nothing is
executed: the file is data.

Field numbers follow TensorFlow's ``tensorflow/lite/schema/schema.fbs`` (Apache-2.0).

>>> graph = read_tflite(Path("mobilenet_v2_1.0_224_quant.tflite").read_bytes())  # doctest: +SKIP
>>> graph.operators[0].op, graph.weights(graph.operators[0].inputs[1]).shape  # doctest: +SKIP
('CONV_2D', (32, 3, 3, 3))
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from synthmark.errors import UsageError

#: The builtin operators this reader names (schema.fbs ``BuiltinOperator``); others keep
#: their number, and a converter that meets them says so.
BUILTIN_OPS = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    14: "LOGISTIC",
    21: "RELU6",
    22: "RESHAPE",
    25: "SOFTMAX",
    34: "PAD",
    40: "MEAN",
    114: "QUANTIZE",
}

#: ``TensorType`` -> numpy dtype, for the types a classifier's weights use.
TENSOR_TYPES: dict[int, Any] = {
    0: np.float32,
    1: np.float16,
    2: np.int32,
    3: np.uint8,
    4: np.int64,
    7: np.int16,
    9: np.int8,
}

#: The options fields read per operator (schema.fbs ``Conv2DOptions`` etc.), by field index.
_OPTION_FIELDS = {
    "CONV_2D": ("padding", "stride_w", "stride_h", "activation", "dilation_w", "dilation_h"),
    "DEPTHWISE_CONV_2D": (
        "padding",
        "stride_w",
        "stride_h",
        "depth_multiplier",
        "activation",
        "dilation_w",
        "dilation_h",
    ),
    "AVERAGE_POOL_2D": (
        "padding",
        "stride_w",
        "stride_h",
        "filter_w",
        "filter_h",
        "activation",
    ),
    "ADD": ("activation",),
    "FULLY_CONNECTED": ("activation",),
}
_OPTION_DEFAULTS = {"dilation_w": 1, "dilation_h": 1, "depth_multiplier": 1}

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}

_MAX_VECTOR = 1 << 28  # no honest classifier has a vector this long


class _FlatBuffer:
    """Bounds-checked reads of a FlatBuffer's tables, vectors and strings."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what

    def fail(self, why: str) -> UsageError:
        return UsageError(f"{self.what}: not a readable TensorFlow Lite model ({why})")

    def _unpack(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise self.fail(f"offset {pos} lies outside the {len(self.data)}-byte file")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def root(self) -> int:
        return self._indirect(0)

    def _indirect(self, pos: int) -> int:
        return pos + int(self._unpack("<I", pos))

    def _field_pos(self, table: int, index: int) -> int | None:
        vtable = table - int(self._unpack("<i", table))
        vsize = int(self._unpack("<H", vtable))
        slot = 4 + 2 * index
        if slot + 2 > vsize:
            return None
        offset = int(self._unpack("<H", vtable + slot))
        return table + offset if offset else None

    def scalar(self, table: int, index: int, fmt: str, default: Any = 0) -> Any:
        pos = self._field_pos(table, index)
        return default if pos is None else self._unpack(fmt, pos)

    def table(self, table: int, index: int) -> int | None:
        pos = self._field_pos(table, index)
        return None if pos is None else self._indirect(pos)

    def _vector(self, table: int, index: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        pos = self._field_pos(table, index)
        if pos is None:
            return 0, 0
        start = self._indirect(pos)
        length = int(self._unpack("<I", start))
        if length > _MAX_VECTOR:
            raise self.fail(f"a vector claims {length} elements")
        return start + 4, length

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self._vector(table, index)
        return [self._indirect(start + 4 * i) for i in range(n)]

    def array(self, table: int, index: int, dtype: Any) -> NDArray[Any]:
        start, n = self._vector(table, index)
        size = n * np.dtype(dtype).itemsize
        if start + size > len(self.data):
            raise self.fail(f"a vector of {n} values runs past the end of the file")
        return (
            np.frombuffer(
                self.data, dtype=np.dtype(dtype).newbyteorder("<"), count=n, offset=start
            ).copy()
            if n
            else np.zeros(0, dtype=dtype)
        )

    def string(self, table: int, index: int) -> str:
        raw = self.array(table, index, np.uint8)
        return raw.tobytes().decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Quantization:
    """``real = scale * (q - zero_point)``, per tensor or per channel along ``axis``."""

    scale: NDArray[np.float32]
    zero_point: NDArray[np.int64]
    axis: int = 0


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph: its shape, element type, buffer and quantisation."""

    name: str
    shape: tuple[int, ...]
    dtype: Any
    buffer: int
    quantization: Quantization | None


@dataclass(frozen=True)
class Operator:
    """One operator: its builtin name, tensor indices (-1: absent) and options."""

    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TFLiteGraph:
    """The first subgraph of a ``.tflite`` file, with the model's constant buffers."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    buffers: list[bytes]

    def raw(self, index: int) -> NDArray[Any]:
        """A constant tensor's stored values (quantised integers for a quantised tensor)."""
        t = self.tensors[index]
        data = self.buffers[t.buffer] if 0 <= t.buffer < len(self.buffers) else b""
        count = int(np.prod(t.shape)) if t.shape else 1
        itemsize = np.dtype(t.dtype).itemsize
        if len(data) != count * itemsize:
            raise UsageError(
                f"tensor {t.name!r} has {len(data)} bytes for shape {t.shape} of {t.dtype}; "
                "it is not a constant or the file is damaged"
            )
        arr = np.frombuffer(data, dtype=np.dtype(t.dtype).newbyteorder("<"))
        return arr.reshape(t.shape).copy()

    def weights(self, index: int) -> NDArray[np.float32]:
        """A constant tensor as float32, dequantised with its own scale and zero point."""
        t = self.tensors[index]
        raw = self.raw(index)
        q = t.quantization
        if q is None or np.dtype(t.dtype).kind == "f":
            return raw.astype(np.float32)
        shape = [1] * raw.ndim
        if q.scale.size > 1:
            shape[q.axis] = q.scale.size
        scale = q.scale.reshape(shape).astype(np.float64)
        zero = q.zero_point.reshape(shape) if q.zero_point.size == q.scale.size else q.zero_point
        return (scale * (raw.astype(np.float64) - zero)).astype(np.float32)


def _quantization(fb: _FlatBuffer, tensor: int) -> Quantization | None:
    q = fb.table(tensor, 4)
    if q is None:
        return None
    scale = fb.array(q, 2, np.float32)
    if scale.size == 0:
        return None
    zero = fb.array(q, 3, np.int64)
    if zero.size == 0:
        zero = np.zeros(scale.size, dtype=np.int64)
    axis = int(fb.scalar(q, 6, "<i"))
    return Quantization(scale=scale, zero_point=zero, axis=axis)


def _tensor(fb: _FlatBuffer, pos: int) -> Tensor:
    kind = int(fb.scalar(pos, 1, "<b"))
    if kind not in TENSOR_TYPES:
        raise fb.fail(f"tensor type {kind} is not one this reader knows")
    shape = tuple(int(v) for v in fb.array(pos, 0, np.int32))
    if any(v < 0 for v in shape):
        raise fb.fail(f"tensor shape {shape} is not static")
    return Tensor(
        name=fb.string(pos, 3),
        shape=shape,
        dtype=TENSOR_TYPES[kind],
        buffer=int(fb.scalar(pos, 2, "<I")),
        quantization=_quantization(fb, pos),
    )


def _options(fb: _FlatBuffer, op: int, name: str) -> dict[str, Any]:
    names = _OPTION_FIELDS.get(name)
    if not names:
        return {}
    table = fb.table(op, 4)
    out: dict[str, Any] = {}
    for i, key in enumerate(names):
        fmt = "<b" if key in ("padding", "activation") else "<i"
        value = (
            _OPTION_DEFAULTS.get(key, 0)
            if table is None
            else fb.scalar(table, i, fmt, _OPTION_DEFAULTS.get(key, 0))
        )
        if key == "padding":
            value = PADDING.get(int(value), f"padding {value}")
        elif key == "activation":
            value = ACTIVATIONS.get(int(value), f"activation {value}")
        out[key] = value
    return out


def _opcode_names(fb: _FlatBuffer, model: int) -> list[str]:
    names = []
    for code in fb.tables(model, 1):
        number = max(int(fb.scalar(code, 0, "<b")), int(fb.scalar(code, 3, "<i")))
        names.append(BUILTIN_OPS.get(number, f"BUILTIN_{number}"))
    return names


def read_tflite(data: bytes, what: str = "model file") -> TFLiteGraph:
    """Parse the bytes of a ``.tflite`` file (first subgraph); ``what`` names it in errors.

    Raises:
        UsageError: the bytes are not a TensorFlow Lite FlatBuffer (wrong identifier, an
            offset outside the file, an unknown tensor type, a dynamic shape).
    """
    fb = _FlatBuffer(data, what)
    if len(data) < 8 or data[4:8] != b"TFL3":
        start = data[:8]
        hint = " (it looks like a pickle)" if start[:1] == b"\x80" or start[:2] == b"PK" else ""
        raise fb.fail(f"no TFL3 identifier; the file starts with {start!r}{hint}")
    model = fb.root()
    buffers = [fb.array(b, 0, np.uint8).tobytes() for b in fb.tables(model, 4)]
    subgraphs = fb.tables(model, 2)
    if not subgraphs:
        raise fb.fail("it has no subgraph")
    graph = subgraphs[0]
    opcodes = _opcode_names(fb, model)
    tensors = [_tensor(fb, t) for t in fb.tables(graph, 0)]
    operators = []
    for op in fb.tables(graph, 3):
        index = int(fb.scalar(op, 0, "<I"))
        if index >= len(opcodes):
            raise fb.fail(f"operator code {index} of {len(opcodes)}")
        name = opcodes[index]
        ins = tuple(int(v) for v in fb.array(op, 1, np.int32))
        outs = tuple(int(v) for v in fb.array(op, 2, np.int32))
        if any(not -1 <= v < len(tensors) for v in ins + outs):
            raise fb.fail(f"operator {name} names a tensor outside the graph")
        operators.append(Operator(name, ins, outs, _options(fb, op, name)))
    return TFLiteGraph(
        tensors=tensors,
        operators=operators,
        inputs=tuple(int(v) for v in fb.array(graph, 1, np.int32)),
        outputs=tuple(int(v) for v in fb.array(graph, 2, np.int32)),
        buffers=buffers,
    )


__all__ = [
    "Operator",
    "Quantization",
    "TFLiteGraph",
    "Tensor",
    "read_tflite",
]
