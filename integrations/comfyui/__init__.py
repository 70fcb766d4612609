"""synthmark for ComfyUI: "synthmark: Label and Save" and "synthmark: Screen".

Install: put this folder in ``ComfyUI/custom_nodes/`` (or install it from the registry)
and install its requirements into ComfyUI's Python (``pip install -r requirements.txt``).
The nodes themselves live in the ``synthmark`` package (``synthmark.integrations.comfyui``);
this folder is what ComfyUI loads. Documentation: ``docs/integrations.md`` in the synthmark
repository.
"""

try:
    from synthmark.integrations.comfyui import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except ImportError as exc:  # synthmark missing, or too old to have the nodes
    raise ImportError(
        f"the synthmark nodes need the synthmark package ({exc}); install it into ComfyUI's "
        "Python: python -m pip install -r custom_nodes/synthmark/requirements.txt"
    ) from exc

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
