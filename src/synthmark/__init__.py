"""synthmark: mark, label, register and screen AI-generated images.

The package is layered (see ``STYLE.md`` in the shared folder):

* primitives: :mod:`synthmark.imaging`, :mod:`synthmark.watermark`,
  :mod:`synthmark.labels`, :mod:`synthmark.registry`, :mod:`synthmark.attacks`,
  :mod:`synthmark.metrics`;
* capabilities: :mod:`synthmark.generate`, :mod:`synthmark.detect`,
  :mod:`synthmark.screen`, :mod:`synthmark.eval`;
* faces: :mod:`synthmark.cli` and :mod:`synthmark.serve`.

Importing :mod:`synthmark` is cheap: nothing heavy (torch, diffusers, timm) is imported
until a command needs it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
