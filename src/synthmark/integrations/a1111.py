"""AUTOMATIC1111 / Forge: label each image the web UI saves, keeping its own ``parameters``.

The extension is the repository's ``integrations/a1111`` folder; its script registers
:meth:`ImageSavedHandler.__call__` with ``script_callbacks.on_image_saved``. That callback
runs after the web UI has written the file, with the exact pixels (``params.image``), the
file name, the infotext it wrote (``params.pnginfo["parameters"]``) and the processing
object ``p``. For each such file the handler:

1. reads the file as ``synthmark label`` does (:func:`~synthmark.labelling.read_source`):
   the web UI's infotext is kept as it was written (prompt, labels, order and quoting), with
   ``Serial`` and ``Generator`` appended; its other text chunks and EXIF are kept;
2. marks the in-memory pixels (not a re-decoded JPEG), labels, signs and registers them
   (:meth:`synthmark.labelling.Labelling.label`) into a temporary file beside it;
3. replaces the web UI's file with the labelled one (one rename).

Saves without ``p`` (the Extras tab) are not generations and are left alone.

**Failure.** The web UI catches and only prints exceptions from callbacks, and the
unlabelled file is already on disk. So a failure is made visible on purpose: an ERROR on
the ``synthmark.integrations`` logger (the web UI's console), then, by default, the
unlabelled file is **moved** into an ``unlabelled`` folder beside it (kept, but not left
where finished outputs are) and :class:`~synthmark.integrations.LabellingFailed` is raised
(the web UI prints it). With the opt-in (the setting, or
``SYNTHMARK_ON_FAILURE=save-unlabelled``), the file stays where it is, unlabelled, with the
same error logged. The ``.txt`` sibling (``save_txt``) and the downscaled ``.jpg`` copy
(``export_for_4chan``, made only for very large images) are not labelled.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthmark.errors import LabelError, SynthmarkError
from synthmark.integrations.common import LabellingFailed, OnFailure, logger, open_parts
from synthmark.settings import Settings

if TYPE_CHECKING:
    from synthmark.labelling import GenerationInfo, Labelling, LabelResult

#: Folder (beside the web UI's output) where a file that could not be labelled is moved.
QUARANTINE = "unlabelled"

#: The web UI settings (key, default, label), in the "synthmark" section.
SETTINGS: list[tuple[str, Any, str]] = [
    ("synthmark_enabled", True, "Label every saved image (watermark, XMP, C2PA, registry)"),
    ("synthmark_provider", "", "Organisation named in the labels (empty: $SYNTHMARK_PROVIDER)"),
    ("synthmark_leave_out_prompts", False, "Leave the prompts out of the labelled files"),
    ("synthmark_keep_unlabelled", False, "If an image cannot be labelled, leave it in place "
     "unlabelled (otherwise it is moved to an 'unlabelled' folder); the error is logged "
     "either way"),
]


@dataclass(frozen=True)
class A1111Options:
    """The extension's settings, from the web UI's ``shared.opts``."""

    enabled: bool = True
    provider: str | None = None
    leave_out_prompts: bool = False
    on_failure: OnFailure = OnFailure.error

    @classmethod
    def from_opts(cls, opts: Any) -> A1111Options:
        """From ``shared.opts`` (unset keys: defaults; the failure policy falls back to
        ``$SYNTHMARK_ON_FAILURE``)."""
        keep = getattr(opts, "synthmark_keep_unlabelled", False)
        return cls(
            enabled=bool(getattr(opts, "synthmark_enabled", True)),
            provider=str(getattr(opts, "synthmark_provider", "") or "") or None,
            leave_out_prompts=bool(getattr(opts, "synthmark_leave_out_prompts", False)),
            on_failure=OnFailure.save_unlabelled if keep else OnFailure.resolve(None),
        )


def info_from_p(p: Any) -> GenerationInfo:
    """What made the image, from the processing object, for a file without infotext
    (``enable_pnginfo`` off): model and settings, not the prompt."""
    from synthmark.labelling import GenerationInfo

    model = getattr(p, "sd_model_name", None)
    if not model:
        raise LabelError("the web UI names no model (p.sd_model_name); cannot label")
    index = int(getattr(p, "batch_index", 0) or 0)
    seeds = getattr(p, "seeds", None) or [getattr(p, "seed", None)]
    seed = seeds[min(index, len(seeds) - 1)]
    return GenerationInfo(
        model=str(model),
        model_hash=getattr(p, "sd_model_hash", None) or None,
        software="AUTOMATIC1111",
        pipeline="AUTOMATIC1111",
        seed=int(seed) if isinstance(seed, int) else None,
        steps=getattr(p, "steps", None),
        sampler=getattr(p, "sampler_name", None),
        cfg_scale=getattr(p, "cfg_scale", None),
    )


def quarantine(path: Path) -> Path:
    """Move ``path`` into the ``unlabelled`` folder beside it (never over another file)."""
    folder = path.parent / QUARANTINE
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.stem}-{n}{path.suffix}", n + 1
    shutil.move(str(path), target)
    return target


class ImageSavedHandler:
    """The ``on_image_saved`` callback. The labelling parts are opened from the home folder
    (``$SYNTHMARK_HOME``) on first use and kept; pass ``labelling`` to use your own. One
    image is labelled at a time (the web UI may save from several threads)."""

    def __init__(self, settings: Settings | None = None, labelling: Labelling | None = None):
        self.settings = settings
        self._labelling = labelling
        self._provider: str | None = None
        self._lock = threading.Lock()

    def labelling(self, options: A1111Options) -> Labelling:
        """The parts, (re)opened when the provider setting changed."""
        if self._labelling is None or options.provider != self._provider:
            if self._labelling is not None:
                self._labelling.close()
            self._labelling = open_parts(self.settings, provider=options.provider)
            self._provider = options.provider
        return self._labelling

    def __call__(self, params: Any, options: A1111Options | None = None) -> LabelResult | None:
        """Label the file the web UI just saved (see the module docstring); None when the
        save is not a generation or the extension is off."""
        options = options or A1111Options()
        if not options.enabled:
            return None
        if getattr(params, "p", None) is None:
            logger.debug("%s: not a generation (no p), left alone", params.filename)
            return None
        path = Path(params.filename)
        try:
            with self._lock:
                result = self._label(path, params.image, params.p, options)
        except (SynthmarkError, OSError) as exc:
            failure = self._failed(path, exc, options)
            if failure is None:
                return None
            raise failure from exc
        logger.info("synthmark labelled %s: serial %d", path, result.serial)
        return result

    def _label(self, path: Path, image: Any, p: Any, options: A1111Options) -> LabelResult:
        from synthmark.labelling import read_source
        from synthmark.labels.labeller import label_format

        if not path.is_file():
            raise LabelError(f"the web UI's file {path} is not there (saved under another name?)")
        fmt = label_format(path.suffix)
        source = read_source(
            path, out_format=fmt, include_prompt=False if options.leave_out_prompts else None
        )
        info = source.info or info_from_p(p)
        same = getattr(image, "size", None) == source.loaded.size
        pixels = image if same else source.loaded.image
        scratch = Path(tempfile.mkdtemp(prefix=".synthmark-", dir=path.parent))
        try:
            result = self.labelling(options).label(
                pixels, info, scratch / path.name, source=source
            )
            os.replace(result.path, path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return replace(result, path=path)

    def _failed(
        self, path: Path, exc: Exception, options: A1111Options
    ) -> LabellingFailed | None:
        """Log the failure and apply the policy; the error to raise, if any."""
        logger.error("synthmark could NOT label %s: %s: %s", path, type(exc).__name__, exc)
        if options.on_failure is OnFailure.save_unlabelled:
            logger.error("%s is left in place UNLABELLED (opted in)", path)
            return None
        where = quarantine(path) if path.is_file() else None
        moved = f"; the unlabelled file was moved to {where}" if where else ""
        if where is not None:
            logger.error("moved the unlabelled %s to %s", path.name, where)
        return LabellingFailed(f"synthmark could not label {path}: {exc}{moved}", [], [None],
                               {0: exc})


__all__ = ["QUARANTINE", "SETTINGS", "A1111Options", "ImageSavedHandler", "info_from_p"]
