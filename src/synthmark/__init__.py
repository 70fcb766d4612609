"""synthmark: mark, label, register and screen AI-generated images.

The package is layered (see ``STYLE.md`` in the shared folder):

* primitives: :mod:`synthmark.imaging`, :mod:`synthmark.watermark`,
  :mod:`synthmark.labels`, :mod:`synthmark.registry`, :mod:`synthmark.attacks`,
  :mod:`synthmark.metrics`;
* capabilities: :mod:`synthmark.generate`, :mod:`synthmark.detect`,
  :mod:`synthmark.screen`, :mod:`synthmark.eval`;
* faces: :mod:`synthmark.cli` and :mod:`synthmark.serve`.

Importing :mod:`synthmark` is cheap: nothing heavy (torch, diffusers, timm) is imported
until a command needs it. :func:`synthmark.label` (:mod:`synthmark.labelling`) is loaded on
first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: Names loaded on first access, so that ``import synthmark`` stays light.
_LAZY = {"label": "synthmark.labelling", "GenerationInfo": "synthmark.labelling"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'synthmark' has no attribute {name!r}")


__all__ = ["GenerationInfo", "__version__", "label"]
