"""What every integration shares: the parts, the failure policy and the per-image loop.

**Failure policy.** An image the integration cannot label (too small for the mark, a mark
that does not read back, signing or registry failure, a full disk) is logged as an error
on the ``synthmark.integrations`` logger and then, by :class:`OnFailure`:

* ``error`` (default): the batch's other images are still labelled, then
  :class:`LabellingFailed` is raised. No unlabelled file is written; the pictures travel
  on the exception (``.images``), so nothing the user made is lost.
* ``save-unlabelled`` (opt-in): the picture is written as a plain PNG whose name says
  ``unlabelled``, next to where the labelled file would have gone, and the call returns.

``$SYNTHMARK_ON_FAILURE`` sets the default for every integration.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import SynthmarkError, UsageError
from synthmark.settings import FAILURE_ENV, PROVIDER_ENV, Settings

if TYPE_CHECKING:
    from PIL import Image

    from synthmark.labelling import GenerationInfo, Labelling, LabelResult
    from synthmark.registry import Registry

logger = logging.getLogger("synthmark.integrations")


class OnFailure(str, Enum):
    """What an integration does with a picture it could not label."""

    error = "error"
    save_unlabelled = "save-unlabelled"

    @classmethod
    def resolve(cls, value: str | OnFailure | None) -> OnFailure:
        """``value``, else ``$SYNTHMARK_ON_FAILURE``, else ``error``; a clear error otherwise."""
        raw = value if value is not None else Settings.from_env().on_failure or cls.error.value
        if isinstance(raw, OnFailure):
            return raw
        try:
            return cls(str(raw).strip().lower().replace("_", "-"))
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise UsageError(f"unknown failure policy {raw!r}; known: {known}") from None


class LabellingFailed(SynthmarkError):
    """Some pictures of a batch could not be labelled; nothing unlabelled was written.

    Attributes:
        images: every picture of the batch, marked where labelled, as made where not.
        results: per picture, its :class:`~synthmark.labelling.LabelResult`, or None.
        errors: per failed picture's index, the error.
        output: what the host returned, untouched, where the integration has it (the
            diffusers pipeline's output object).
    """

    def __init__(
        self,
        message: str,
        images: list[Image.Image],
        results: list[LabelResult | None],
        errors: dict[int, Exception],
    ) -> None:
        super().__init__(message)
        self.images = images
        self.results = results
        self.errors = errors
        self.output: Any = None


@dataclass
class Item:
    """One picture to label: its pixels, what made it, and where it goes (a file or a
    folder, see :meth:`synthmark.labelling.Labelling.label`)."""

    image: Image.Image
    info: GenerationInfo
    target: Path
    texts: Sequence[tuple[str, str]] = ()


@dataclass
class BatchOutcome:
    """What became of each picture of a batch, in order."""

    images: list[Image.Image]
    results: list[LabelResult | None]
    errors: dict[int, Exception] = field(default_factory=dict)
    unlabelled: dict[int, Path] = field(default_factory=dict)


def open_parts(
    settings: Settings | None = None,
    *,
    provider: str | None = None,
    include_prompt: bool = False,
    registry: Registry | str | None = None,
    notify: Callable[[str], None] | None = None,
) -> Labelling:
    """The labelling parts from the home folder, as ``synthmark generate`` has them: the
    watermark key and a local signing CA are created on first use (mode 0600, the user told
    through ``notify``, default: a warning on the log); ``$SYNTHMARK_C2PA_CERT`` and
    ``$SYNTHMARK_C2PA_KEY`` name your own certificate; ``provider`` defaults to
    ``$SYNTHMARK_PROVIDER`` (none named: ``notify`` says so)."""
    from synthmark.generate.assemble import ensure_credentials, ensure_watermark_key
    from synthmark.labelling import open_labelling

    settings = settings or Settings.from_env()
    tell = notify or logger.warning
    ensure_watermark_key(settings, tell)
    ensure_credentials(settings, tell)
    provider = provider or settings.provider
    if provider is None:
        tell(
            f"No provider named ({PROVIDER_ENV}): the labels will not say which organisation "
            "generated these images, as California SB 942's disclosure asks."
        )
    return open_labelling(
        settings, registry=registry, provider=provider, include_prompt=include_prompt
    )


def unlabelled_path(target: Path, index: int) -> Path:
    """Where a picture that could not be labelled goes on opt-in: the target's name with
    ``.unlabelled`` before its suffix (or a numbered name in the target folder), as PNG,
    never over an existing file."""
    if target.is_dir():
        stem, folder = f"synthmark-unlabelled-{os.getpid()}-{index}", target
    else:
        stem, folder = f"{target.stem}.unlabelled", target.parent
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        path, n = folder / f"{stem}-{n}.png", n + 1
    return path


def save_unlabelled(
    image: Image.Image, path: Path, texts: Sequence[tuple[str, str]] = ()
) -> Path:
    """Write ``image`` as a plain PNG (with ``texts``), atomically; no labels, no mark."""
    import io

    from PIL import PngImagePlugin

    from synthmark.imaging import atomic_writer

    info = PngImagePlugin.PngInfo()
    for key, value in texts:
        info.add_text(key, value)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    with atomic_writer(path) as fh:
        fh.write(buf.getvalue())
    return path


def _describe(errors: dict[int, Exception], total: int) -> str:
    parts = [f"image {i}: {type(e).__name__}: {e}" for i, e in sorted(errors.items())]
    return f"synthmark could not label {len(errors)} of {total} images ({'; '.join(parts)})"


def label_batch(
    labelling: Labelling,
    items: Sequence[Item],
    *,
    on_failure: OnFailure = OnFailure.error,
    format: str = "png",
) -> BatchOutcome:
    """Label each item in turn; a picture that fails is logged and handled by ``on_failure``
    (see the module docstring), after every other picture of the batch is labelled.

    Raises:
        LabellingFailed: with ``on_failure=error``, when any picture failed.
    """
    outcome = BatchOutcome(images=[item.image for item in items], results=[])
    for index, item in enumerate(items):
        try:
            result = labelling.label(
                item.image, item.info, item.target, format=format, texts=item.texts
            )
        except (SynthmarkError, OSError) as exc:
            logger.error(
                "synthmark could not label image %d (%s): %s", index, type(exc).__name__, exc
            )
            outcome.results.append(None)
            outcome.errors[index] = exc
            if on_failure is OnFailure.save_unlabelled:
                path = save_unlabelled(
                    item.image, unlabelled_path(item.target, index), item.texts
                )
                outcome.unlabelled[index] = path
                logger.error("saved image %d UNLABELLED at %s (opted in)", index, path)
            continue
        outcome.results.append(result)
        if result.image is not None:
            outcome.images[index] = result.image
    if outcome.errors and on_failure is OnFailure.error:
        raise LabellingFailed(
            _describe(outcome.errors, len(items))
            + f"; nothing unlabelled was written (set {FAILURE_ENV}=save-unlabelled to keep "
            "such pictures as unlabelled files)",
            outcome.images,
            outcome.results,
            outcome.errors,
        )
    return outcome


__all__ = [
    "FAILURE_ENV",
    "BatchOutcome",
    "Item",
    "LabellingFailed",
    "OnFailure",
    "label_batch",
    "open_parts",
    "save_unlabelled",
    "unlabelled_path",
]
