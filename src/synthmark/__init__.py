"""synthmark: mark, label, register and screen AI-generated images.

What a Python user needs is here, loaded on first use (``import synthmark`` imports neither
torch, diffusers, timm nor numpy)::

    import synthmark

    settings = synthmark.Settings.from_env()                 # the home folder, the environment
    image = synthmark.load_image("render.png").image          # safe decoding, 8-bit RGB
    result = synthmark.label(image, synthmark.GenerationInfo(model="sdxl-base-1.0"),
                             "out/render.png", provider="Acme")   # mark, label, sign, register
    scheme = synthmark.get_scheme("synthmark", key=key)      # a watermark scheme by name
    readouts = synthmark.read_all(image, key)                # every mark screening looks for
    labels = synthmark.read_labels(data, "upload.jpg")       # C2PA, XMP, EXIF, generators
    registry = synthmark.open_registry(settings)             # the record of what was made
    detector = synthmark.load_detector()                     # the built-in real-vs-generated
    generator = synthmark.build_generator(settings, model="tiny")     # text-to-image, marked
    screener = synthmark.open_screener(settings)             # one verdict per image
    screener.screen_path("upload.jpg").verdict

Each of these names has an example in its own docstring (``help(synthmark.label)``).

The package is layered, each storey importing only from below (README, "Development"):

* base: :mod:`synthmark.imaging`, :mod:`synthmark.settings`, :mod:`synthmark.choices`,
  :mod:`synthmark.names`, :mod:`synthmark.errors`, :mod:`synthmark.metrics`;
* primitives: :mod:`synthmark.watermark`, :mod:`synthmark.labels`,
  :mod:`synthmark.registry`, :mod:`synthmark.attacks`;
* capabilities: :mod:`synthmark.generate`, :mod:`synthmark.labelling`,
  :mod:`synthmark.detect`, :mod:`synthmark.screen`, :mod:`synthmark.eval`;
* faces: :mod:`synthmark.cli`, :mod:`synthmark.serve`, :mod:`synthmark.integrations`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The public names, each loaded from its module on first access.
_LAZY = {
    "GenerationInfo": "synthmark.labelling",
    "Generator": "synthmark.generate",
    "Screener": "synthmark.screen.screener",
    "Settings": "synthmark.settings",
    "build_generator": "synthmark.generate.assemble",
    "get_scheme": "synthmark.watermark",
    "label": "synthmark.labelling",
    "load_detector": "synthmark.detect",
    "load_image": "synthmark.imaging",
    "open_registry": "synthmark.registry",
    "open_screener": "synthmark.screen.assemble",
    "read_all": "synthmark.watermark",
    "read_labels": "synthmark.labels",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'synthmark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = ["__version__", *_LAZY]
