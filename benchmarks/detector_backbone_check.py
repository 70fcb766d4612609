"""Check the converted MobileNetV2 against the TFLite graph: our float reference and, when it is
installed, the real TFLite interpreter (ai-edge-litert, which runs the int8 graph as is).

    SYNTHMARK_MODELS=../shared/models .venv/bin/python benchmarks/detector_backbone_check.py

``ai-edge-litert`` is not a synthmark dependency; to include it without touching the venv:
``pip install --target /tmp/litert --no-deps ai-edge-litert`` and ``PYTHONPATH=/tmp/litert``.

For each pinned file and each photo (resized to 224 px as ImageNet classifiers expect), it
prints the converted network's top-5 classes, whether they equal the float op-by-op
reference's (:mod:`synthmark.detect.backbone.reference`) and the interpreter's, and the
largest probability difference. The interpreter quantises every activation to 8 bits, so
its smallest probabilities tie at 0 and the tail of its top-5 can differ.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

from synthmark.detect.backbone.mobilenet import mobilenet_from_tflite
from synthmark.detect.backbone.reference import run_reference
from synthmark.detect.backbone.tflite import read_tflite
from synthmark.detect.backbone.weights import MOBILENET_V2, MOBILENET_V2_UINT8

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "detector"
PHOTOS = (
    "real_dreambooth_objects/cat_00.jpg",
    "real_dreambooth_objects/backpack_dog_00.jpg",
    "real_sun_hays80/abbey_sun_asztnlqhlrvirneh.jpg",
    "real_sun_hays80/aqueduct_sun_ancegghzusmmvzjn.jpg",
    "real_sun_hays80/barn_sun_btulbiaoilnxcseh.jpg",
)


def interpreter_probs(path: Path, images: np.ndarray) -> np.ndarray | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for im in images:
        it.set_tensor(inp["index"], im[None].astype(inp["dtype"]))
        it.invoke()
        scale, zero = out["quantization"]
        rows.append(scale * (it.get_tensor(out["index"]).astype(np.float32) - zero))
    return np.concatenate(rows)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(os.environ.get("SYNTHMARK_MODELS", ROOT.parent / "shared" / "models")),
    )
    args = parser.parse_args(argv)
    labels = (args.models / "imagenet_mobilenet" / "imagenet_labels.txt").read_text().splitlines()
    images = np.stack(
        [
            np.asarray(
                Image.open(DATA / p).convert("RGB").resize((224, 224), Image.Resampling.BICUBIC)
            )
            for p in PHOTOS
        ]
    )
    x = images.astype(np.float32) / 127.5 - 1.0
    for pinned in (MOBILENET_V2, MOBILENET_V2_UINT8):
        path = args.models / pinned.path
        graph = read_tflite(path.read_bytes(), str(path))
        net = mobilenet_from_tflite(graph)
        with torch.no_grad():
            ours = torch.softmax(net(torch.from_numpy(x).permute(0, 3, 1, 2)), -1).numpy()
        reference = run_reference(graph, x)
        lite = interpreter_probs(path, images)
        print(
            f"{pinned.filename}: max |converted - float reference| = "
            f"{np.abs(ours - reference).max():.2e}"
        )
        for i, photo in enumerate(PHOTOS):
            top = list(np.argsort(-ours[i])[:5])
            same_ref = top == list(np.argsort(-reference[i])[:5])
            names = [labels[k] for k in top]
            line = f"  {Path(photo).name}: {names}; reference top-5 equal {same_ref}"
            if lite is not None:
                theirs = list(np.argsort(-lite[i])[:5])
                line += (
                    f"; interpreter top-1 equal {top[0] == theirs[0]}, top-5 overlap "
                    f"{len(set(top) & set(theirs))}/5, max |p - p_tflite| "
                    f"{np.abs(ours[i] - lite[i]).max():.3f}"
                )
            print(line)
        if lite is None:
            print("  (ai-edge-litert not installed: interpreter comparison skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
