"""Label images where people make them: diffusers scripts, ComfyUI and AUTOMATIC1111/Forge.

Each integration is a thin face over the one labelling capability
(:func:`synthmark.label`, :class:`synthmark.labelling.Labelling`): it turns the host's
pictures and parameters into a :class:`~synthmark.labelling.GenerationInfo` and calls it.

* :mod:`synthmark.integrations.diffusers`: :func:`~synthmark.integrations.diffusers.attach`
  wraps any pipeline's call; :class:`~synthmark.integrations.diffusers.SynthmarkWatermarker`
  replaces an SDXL pipeline's ``watermark`` (dwtDct) object.
* :mod:`synthmark.integrations.comfyui`: the "synthmark: Label and Save" and "synthmark:
  Screen" nodes (the ``integrations/comfyui`` folder of the repository is the node pack).
* :mod:`synthmark.integrations.a1111`: the ``on_image_saved`` handler (the
  ``integrations/a1111`` folder is the web UI extension).

What they share is in :mod:`synthmark.integrations.common`: the parts from the home folder
(created on first use, like ``synthmark generate``), and the failure policy: an image that
cannot be labelled is an error by default, and is kept as an unlabelled file only when the
user opts in (``SYNTHMARK_ON_FAILURE=save-unlabelled``).
"""

from __future__ import annotations

from synthmark.integrations.common import FAILURE_ENV, LabellingFailed, OnFailure

__all__ = ["FAILURE_ENV", "LabellingFailed", "OnFailure"]
