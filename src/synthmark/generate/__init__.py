"""Text-to-image generation whose every output is watermarked, labelled, signed and registered.

>>> from synthmark.generate import GenerationRequest, load_model     # doctest: +SKIP
>>> model = load_model("tiny")
"""

from synthmark.generate.generator import (
    SCHEDULERS,
    GenerationRequest,
    GenerationResult,
    Generator,
    OutputFormat,
    serial_payload,
)
from synthmark.generate.models import Device, DType, ModelHandle, load_model
from synthmark.generate.prompts import PromptRow, read_prompts

__all__ = [
    "SCHEDULERS",
    "DType",
    "Device",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "ModelHandle",
    "OutputFormat",
    "PromptRow",
    "load_model",
    "read_prompts",
    "serial_payload",
]
