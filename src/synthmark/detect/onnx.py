"""The detector as one ONNX file (backbone and head), and a detector that runs such a file.

:func:`export_onnx` writes a graph with one input and two outputs:

``tiles``
    float32, shape (N, 3, H, W): the canonical tiles of **one** image, RGB values 0-255,
    H and W multiples of 32 (the preprocessing below makes them);
``probability``
    float32, shape (1,): P(generated) of the image (calibrated, to compare with the
    threshold in the metadata);
``tile_decision``
    float32, shape (N,): the head's uncalibrated score of each tile.

The preprocessing that makes the tiles is not in the graph (it re-encodes a JPEG); it is
written into the file's metadata (key ``synthmark``, JSON) with the threshold, and
:class:`OnnxDetector` follows it: centre crop to at most ``max_side`` px on the 8 px grid,
JPEG re-encoding at ``canonical_quality``, then up to ``max_tiles`` square tiles of
``tile`` px (multiples of ``tile_multiple``).

Only a detector whose features are all computed by a network (``mobilenetv2``) and whose
head is ``logistic`` or ``mlp`` can be exported; others are refused with the reason. A file
of another kind (a pickle, random bytes, an ONNX graph with other inputs) is refused when
loaded.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from synthmark.detect.preprocess import Preprocess, check_texture, grid_tiles
from synthmark.errors import ModelNotFound, UnsafeFile, UsageError

META_KEY = "synthmark"
ONNX_FORMAT = "synthmark-detector-onnx"
ONNX_FORMAT_VERSION = 1
INPUT = "tiles"
OUTPUTS = ("probability", "tile_decision")
#: H and W of the tiles must be multiples of this (five stride-2 layers, TF "same" padding).
TILE_MULTIPLE = 32
#: Heads whose decision the exported graph computes.
EXPORTABLE_HEADS = ("logistic", "mlp")


def _exportable(detector: Any) -> Any:
    """The detector as a torch module: tiles (0-255) -> (probability, tile decisions)."""
    import torch
    from torch import nn

    from synthmark.detect.extractors.mobilenet import MobileNetV2Features

    ext = detector._fitted("extractor_")
    if not isinstance(ext, MobileNetV2Features) or detector.head not in EXPORTABLE_HEADS:
        raise UsageError(
            f"only a detector with the mobilenetv2 extractor and the logistic or mlp head "
            f"exports to ONNX; this one uses {detector.extractor!r} and {detector.head!r}"
        )
    head = detector.head_
    a, b = (float(v) for v in detector.calibration_)

    def const(values: Any) -> Any:
        return torch.as_tensor(np.asarray(values, dtype=np.float32))

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = ext._network()
            self.register_buffer("mean", const(head.mean_))
            self.register_buffer("scale", const(head.scale_))
            # The mlp head is a hidden ReLU layer before the same linear output as logistic's.
            self.hidden = detector.head == "mlp"
            if self.hidden:
                self.register_buffer("hidden_weights", const(head.hidden_weights_))
                self.register_buffer("hidden_bias", const(head.hidden_bias_))
            linear = (
                (head.output_weights_, head.output_bias_)
                if self.hidden
                else (head.coef_, head.intercept_)
            )
            self.register_buffer("coef", const(linear[0]))
            self.register_buffer("intercept", const(linear[1]).reshape(()))

        def forward(self, tiles: Any) -> tuple[Any, Any]:
            feats = ext.forward(tiles / 127.5 - 1.0)
            z = (feats - self.mean) / self.scale
            if self.hidden:
                z = torch.relu(z @ self.hidden_weights + self.hidden_bias)
            decision = z @ self.coef + self.intercept
            logit = a * decision.mean() + b
            return torch.sigmoid(logit).reshape(1), decision

    return Exported().eval()


def export_onnx(detector: Any, path: str | Path, opset: int = 17) -> Path:
    """Write ``detector`` (fitted, exportable) as one ONNX file with its metadata."""
    import onnx
    import torch

    module = _exportable(detector)
    side = min(detector.tile, 224) // TILE_MULTIPLE * TILE_MULTIPLE
    example = torch.rand(1, 3, side, side) * 255.0
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of one that needs onnxscript;
            # it still writes a correct graph, checked against PyTorch in the tests.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                dynamo=False,
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_axes={
                    INPUT: {0: "n_tiles", 2: "height", 3: "width"},
                    OUTPUTS[1]: {0: "n_tiles"},
                },
                opset_version=opset,
            )
        model = onnx.load(str(tmp))
        entry = model.metadata_props.add()
        entry.key = META_KEY
        entry.value = json.dumps(metadata(detector), sort_keys=True)
        model.doc_string = (
            "synthmark real-vs-generated detector: input 'tiles' (N,3,H,W) float32 RGB 0-255, "
            "the canonical tiles of one image; output 'probability' = P(generated). "
            f"Preprocessing and threshold: metadata key '{META_KEY}'."
        )
        onnx.save(model, str(out))
    finally:
        tmp.unlink(missing_ok=True)
    return out


def metadata(detector: Any) -> dict[str, Any]:
    """What a runtime needs besides the graph: preprocessing, threshold, classes, card."""
    card = detector.card
    return {
        "format": ONNX_FORMAT,
        "format_version": ONNX_FORMAT_VERSION,
        "name": card.name,
        "classes": [str(c) for c in detector.classes_],
        "threshold": float(detector.threshold_),
        "target_fpr": float(detector.target_fpr),
        "preprocessing": {
            "canonical_quality": detector.canonical_quality,
            "max_side": int(detector.max_side),
            "tile": int(detector.tile),
            "max_tiles": int(detector.max_tiles),
            "tile_multiple": TILE_MULTIPLE,
            "steps": (
                "decode to RGB; centre crop to at most max_side px per side with offsets on "
                "the 8 px grid (never resize); JPEG re-encode at canonical_quality (4:2:0, "
                "standard tables) and decode; cut square tiles of min(tile, short side "
                "rounded down to tile_multiple) px on a grid centred on the image, at most "
                "max_tiles evenly spread; feed them as one batch (N,3,H,W) float32 0-255"
            ),
        },
        "score": "probability = sigmoid(a * mean(tile_decision) + b), already applied",
    }


@dataclass
class _Session:
    session: Any
    meta: dict[str, Any]


def _open(path: Path, threads: int) -> _Session:
    import onnxruntime as ort

    from synthmark.detect.storage import looks_pickled

    if not path.is_file():
        raise ModelNotFound(f"{path}: no such ONNX file")
    if looks_pickled(path):
        raise UnsafeFile(f"{path}: looks like a pickle; synthmark never unpickles models")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise UsageError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    ins = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
    outs = [o.name for o in session.get_outputs()]
    if len(ins) != 1 or ins[0][0] != INPUT or ins[0][1] != "tensor(float)" or len(ins[0][2]) != 4:
        raise UsageError(
            f"{path}: its inputs are {ins}; a synthmark detector takes one float tensor "
            f"{INPUT!r} of shape (N, 3, H, W)"
        )
    if tuple(outs[:2]) != OUTPUTS:
        raise UsageError(f"{path}: its outputs are {outs}; a synthmark detector gives {OUTPUTS}")
    raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != ONNX_FORMAT or meta.get("format_version") != ONNX_FORMAT_VERSION:
        raise UsageError(
            f"{path}: no synthmark metadata (format {meta.get('format')!r}, version "
            f"{meta.get('format_version')!r}); export it with `synthmark detect export`"
        )
    return _Session(session, meta)


class OnnxDetector:
    """Runs an exported detector through onnxruntime, with the file's own preprocessing.

    ``n_jobs`` is the number of worker threads :func:`~synthmark.detect.predict_paths` scores
    files with; the session itself runs on one thread, so that the workers do not fight
    for the cores (on a busy 2-core machine, 2 workers on a 2-thread session scored 14.7
    files/s against 17.6 for one worker on one thread; docs/detector.md)."""

    def __init__(self, path: str | Path, n_jobs: int = 1) -> None:
        self.path = Path(path)
        self.n_jobs = n_jobs
        opened = _open(self.path, 1)
        self._session = opened.session
        self.meta = opened.meta
        pre = self.meta["preprocessing"]
        self.preprocess = Preprocess(quality=pre["canonical_quality"], max_side=pre["max_side"])
        self.tile, self.max_tiles = int(pre["tile"]), int(pre["max_tiles"])
        self.threshold_ = float(self.meta["threshold"])
        self.classes_ = np.asarray(self.meta.get("classes", ["real", "generated"]))

    @property
    def name(self) -> str:
        """The model's name (from its card)."""
        return str(self.meta.get("name", self.path.name))

    def tiles(self, image: Image.Image) -> list[Image.Image]:
        """The canonical tiles the graph is fed (sides multiples of 32)."""
        canon = self.preprocess(image)
        return grid_tiles(canon, self.tile, self.max_tiles, multiple=TILE_MULTIPLE)

    def check_applicable(self, image: Image.Image) -> None:
        """As :meth:`Detector.check_applicable`: flat images are outside the domain."""
        check_texture(self.preprocess(image))

    def predict_proba(self, images: Sequence[Image.Image]) -> NDArray[np.float64]:
        """Shape (n, 2); columns follow ``classes_``."""
        p = np.zeros(len(images))
        for i, image in enumerate(images):
            tiles = self.tiles(image)
            batch = np.stack([np.asarray(t, dtype=np.float32) for t in tiles]).transpose(0, 3, 1, 2)
            p[i] = float(self._session.run([OUTPUTS[0]], {INPUT: batch})[0][0])
        return np.column_stack([1.0 - p, p])


__all__ = ["META_KEY", "ONNX_FORMAT", "OnnxDetector", "export_onnx", "metadata"]
