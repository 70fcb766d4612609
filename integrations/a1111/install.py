"""Run by AUTOMATIC1111 / Forge at start-up: install synthmark into the web UI's Python.

``SYNTHMARK_PIP_SPEC`` names what to install (default ``synthmark``; a path or a git URL
works too).
"""

import os

import launch

if not launch.is_installed("synthmark"):
    spec = os.environ.get("SYNTHMARK_PIP_SPEC", "synthmark")
    launch.run_pip(f"install {spec}", "synthmark (provenance labels for saved images)")
