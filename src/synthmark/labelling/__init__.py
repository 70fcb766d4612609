"""Label what any generator made: the one labelling capability of synthmark.

:func:`label` marks an image with a registered serial, writes XMP and the A1111
``parameters`` text, signs a C2PA manifest (with a soft binding to the mark), keeps the
manifest store and the record in the registry, and writes the file atomically.
``synthmark generate``, ``synthmark label`` and the integrations with diffusers, ComfyUI and
AUTOMATIC1111 all call it::

    import synthmark
    from synthmark.labelling import GenerationInfo

    info = GenerationInfo(model="stable-diffusion-v1-5", seed=42, steps=25,
                          prompt="a red fox in the snow", software="diffusers 0.31")
    result = synthmark.label(image, info, "out/fox.png", provider="Acme Studio")
    result.serial, result.manifest_id, result.path

For many images, build the parts once (:func:`open_labelling`) and pass them as
``labelling=``; for a file that exists already (its metadata read, its manifest kept as
ingredient), use :func:`label_file`.

Why a capability of its own, not part of :mod:`synthmark.labels`: it combines primitives
(the watermark, the labels, the registry, safe image input), and the labels package stays a
primitive that knows nothing of watermarks or databases. ``generate`` renders and then
calls it; the faces (CLI, integrations) call it too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from synthmark.errors import LabelError
from synthmark.labelling.core import SUFFIX_ALIASES, SUFFIXES, Labelling, serial_payload
from synthmark.labelling.info import GenerationInfo, LabelResult
from synthmark.labelling.source import SourceFile, read_source
from synthmark.settings import Settings

if TYPE_CHECKING:
    from synthmark.imaging import ImageLimits
    from synthmark.registry import Registry


def open_labelling(
    settings: Settings | None = None,
    *,
    registry: Registry | str | None = None,
    provider: str | None = None,
    include_prompt: bool = False,
    quality: int = 95,
) -> Labelling:
    """The parts from the home folder: its watermark key, its C2PA signing credentials
    (or ``$SYNTHMARK_C2PA_CERT`` / ``$SYNTHMARK_C2PA_KEY``) and its registry (or
    ``registry``, a :class:`~synthmark.registry.Registry` or a URL).

    Nothing is created: labelling other people's files needs keys made on purpose.

    Raises:
        KeyMissing: no watermark key or no signing credentials (the message says how to
            make them).
    """
    from synthmark.labels import Labeller, load_credentials
    from synthmark.registry import open_registry
    from synthmark.watermark import get_scheme
    from synthmark.watermark.keys import load_key

    settings = settings or Settings.from_env()
    key = load_key(settings)
    credentials = load_credentials(settings)
    if registry is None or isinstance(registry, str):
        registry = open_registry(registry or settings)
    return Labelling(
        get_scheme("synthmark", key=key),
        Labeller(credentials, quality=quality),
        registry,
        provider=provider,
        include_prompt=include_prompt,
        quality=quality,
    )


def label(
    image: Image.Image,
    info: GenerationInfo,
    output: str | os.PathLike[str],
    *,
    format: str | None = None,
    provider: str | None = None,
    include_prompt: bool = False,
    labelling: Labelling | None = None,
    settings: Settings | None = None,
    created: datetime | None = None,
    texts: Sequence[tuple[str, str]] = (),
) -> LabelResult:
    """Watermark, label, sign, register and write one generated image.

    Args:
        image: the picture (any Pillow mode; labelled as 8-bit RGB).
        info: what made it: model (required), seed, prompt, steps, sampler, ...
        output: the file to write (``.png``, ``.jpg`` or ``.webp``; never an existing one),
            or a folder, existing or ending in ``/`` (the file is then named
            ``synthmark-<serial>.<ext>``).
        format: ``png``, ``jpeg`` or ``webp``; default: the output's suffix, else PNG.
        provider: the organisation named in the labels.
        include_prompt: put the prompt text in the labels and the registry.
        labelling: parts built once for many images (:func:`open_labelling`); without
            them, the home folder's are opened and closed for this image, and ``provider``
            and ``include_prompt`` apply (with them, the parts' own do).
        settings: the home folder (default: ``$SYNTHMARK_HOME``).
        created: the creation time written in the labels (default: now, UTC).
        texts: more PNG text chunks ``(key, value)`` to write before signing (ComfyUI's
            ``prompt`` and ``workflow`` JSON, say); PNG only.

    Returns:
        :class:`LabelResult`: path, serial, manifest id, sha256, soft binding, notes.

    Raises:
        KeyMissing, ImageTooSmall, WatermarkError, LabelError, RegistryError: nothing is
        written and the serial, if one was taken, is abandoned.

    Example::

        >>> import synthmark
        >>> from synthmark.labelling import GenerationInfo
        >>> result = synthmark.label(                                   # doctest: +SKIP
        ...     image, GenerationInfo(model="sd-1.5", seed=42, prompt="a fox"), "out/")
        >>> result.serial, result.soft_binding["alg"]                   # doctest: +SKIP
        (17, 'org.synthmark.watermark.1')
    """
    target = os.fspath(output)
    if labelling is not None:
        return labelling.label(image, info, target, format=format, created=created, texts=texts)
    with open_labelling(settings, provider=provider, include_prompt=include_prompt) as parts:
        return parts.label(image, info, target, format=format, created=created, texts=texts)


def label_file(
    labelling: Labelling,
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    model: str | None = None,
    format: str | None = None,
    force: bool = False,
    drop_manifest: bool = False,
    include_prompt: bool | None = None,
    limits: ImageLimits | None = None,
    trust_anchors: bytes | None = None,
) -> LabelResult:
    """Label an existing image file; the generation parameters come from its own metadata
    (AUTOMATIC1111/Forge, ComfyUI, InvokeAI, ...), ``model`` overriding the model.

    ``output`` is the file to write, or an existing folder: the file is then named after
    the input, with the output format's suffix.

    The file's C2PA manifest is kept as parent ingredient, its EXIF, ICC and XMP that do
    not conflict are kept; what cannot be kept is listed in :attr:`LabelResult.notes`.
    See :func:`~synthmark.labelling.source.read_source` for ``force``, ``drop_manifest``
    and ``include_prompt``.
    """
    source = read_source(
        path,
        out_format=format,
        limits=limits,
        trust_anchors=trust_anchors,
        force=force,
        drop_manifest=drop_manifest,
        include_prompt=include_prompt,
    )
    info = source.info.with_model(model) if source.info is not None else None
    if info is None:
        if model is None:
            raise LabelError(
                f"{source.name}: no generator metadata in the file names the model; "
                "pass --model NAME"
            )
        info = GenerationInfo(model=model)
    target = Path(output)
    if target.is_dir():
        suffix = Path(path).suffix
        if suffix.lower() not in SUFFIX_ALIASES[source.out_format]:
            suffix = SUFFIXES[source.out_format]
        target = target / f"{Path(path).stem}{suffix}"
    return labelling.label(source.loaded.image, info, target, source=source)


__all__ = [
    "GenerationInfo",
    "LabelResult",
    "Labelling",
    "SourceFile",
    "label",
    "label_file",
    "open_labelling",
    "read_source",
    "serial_payload",
]
