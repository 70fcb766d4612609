"""Learn real vs generated from pixels, ship a default model, and say honestly how good it is.

>>> from synthmark.detect import load_detector
>>> det = load_detector()                        # the default model shipped in the package
>>> old = load_detector("grid-v1")               # the weight-free v1, no backbone needed
>>> det.classes_                                 # doctest: +SKIP
array(['real', 'generated'], dtype='<U9')
>>> det.predict_proba([image])[:, 1]             # P(generated)   # doctest: +SKIP
>>> det.threshold_, det.card.target_fpr          # fixed on validation data  # doctest: +SKIP

* :class:`Detector` (``detector.py``): scikit-learn-style ``fit``/``predict_proba``/``predict``;
* feature extractors by name (``extractors/``), heads by name (``heads.py``);
* training data without shortcuts (``data.py``), preprocessing (``preprocess.py``);
* validation folds by group or by source (``validation.py``), training from folders
  (``training.py``);
* safe persistence, JSON + safetensors (``storage.py``), and the model card (``card.py``);
* the pretrained backbone (``backbone/``: a pinned MobileNetV2 TFLite file, read from the
  home cache, ``$SYNTHMARK_MODELS`` or its public address), the ONNX export and runtime
  (``onnx.py``), and loading by path or name (``loading.py``).
"""

from synthmark.detect.card import DataSource, ModelCard
from synthmark.detect.data import Augment, Sample, TrainingImages, collect
from synthmark.detect.detector import Detector, ImageFeatures
from synthmark.detect.extractors import create_extractor, list_extractors
from synthmark.detect.heads import create_head, list_heads
from synthmark.detect.loading import load_detector
from synthmark.detect.onnx import OnnxDetector, export_onnx
from synthmark.detect.predict import FilePrediction, predict_paths
from synthmark.detect.storage import default_model_path

__all__ = [
    "Augment",
    "DataSource",
    "Detector",
    "FilePrediction",
    "ImageFeatures",
    "ModelCard",
    "OnnxDetector",
    "Sample",
    "TrainingImages",
    "collect",
    "create_extractor",
    "create_head",
    "default_model_path",
    "export_onnx",
    "list_extractors",
    "list_heads",
    "load_detector",
    "predict_paths",
]
