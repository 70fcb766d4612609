"""The one labelling step every face calls: mark, label, sign, register, write.

For each image, always in this order:

1. the size is checked (a mark that cannot be applied is an error, before any serial);
2. the registry reserves a new serial (allocated by the database);
3. the watermark carrying that serial is embedded, then read back and checked, and a
   description of the marked picture is kept with the serial (what the mark is bound to:
   :mod:`synthmark.watermark.attribution`);
4. the labels are applied: XMP ``DigitalSourceType``, the A1111 ``parameters`` text, the
   file's own metadata that does not conflict, and the C2PA manifest (its soft binding
   names the mark; a manifest the file came with is its parent ingredient), signed last
   over the final bytes;
5. the manifest store is kept in the registry and the record is completed (sha256,
   perceptual hash, manifest id);
6. the file is written atomically: a temporary file renamed into place. An existing file,
   the input among them, is never written over.

If any step fails, the serial is abandoned, no file appears under the output name, and a
:class:`~synthmark.errors.SynthmarkError` says what failed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from synthmark import __version__
from synthmark.errors import ImageTooSmall, LabelError, UsageError, WatermarkError
from synthmark.imaging import atomic_writer
from synthmark.labelling.info import GenerationInfo, LabelResult
from synthmark.labels.a1111 import rewrite_parameters
from synthmark.labels.keep import KeptMetadata
from synthmark.labels.labeller import label_format
from synthmark.labels.request import LabelRequest
from synthmark.labels.soft_binding import SOFT_BINDING_ALG, binding_value
from synthmark.watermark.attribution import describe_content
from synthmark.watermark.base import embed_checked

if TYPE_CHECKING:  # the parts' types; fakes in tests need only the same methods
    from synthmark.labelling.source import SourceFile
    from synthmark.labels import Labeller
    from synthmark.registry import Registry
    from synthmark.watermark import WatermarkScheme

SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
#: Suffixes a file of each format may keep.
SUFFIX_ALIASES = {"PNG": {".png"}, "JPEG": {".jpg", ".jpeg", ".jpe"}, "WEBP": {".webp"}}
#: PNG text keys the labeller writes itself; extra texts may not use them.
OWN_TEXT_KEYS = frozenset({"parameters", "Software", "XML:com.adobe.xmp"})


def serial_payload(serial: int, bits: int = 64) -> bytes:
    """The watermark payload that carries ``serial``: big-endian, ``bits`` wide."""
    if not 0 <= serial < 2**bits:
        raise WatermarkError(f"serial {serial} does not fit in a {bits}-bit payload")
    return serial.to_bytes(bits // 8, "big")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


class Labelling:
    """The parts that label images: the watermark, the labeller and the registry.

    Build once, call :meth:`label` for each image (or use :func:`synthmark.label`, which
    builds one from the home folder). ``__init__`` only stores the parts, so each can be a
    fake in tests.

    Args:
        marker: the watermark scheme that carries the serial.
        labeller: writes XMP, parameters and the signed C2PA manifest.
        registry: reserves serials, keeps manifest stores and records.
        public_mark: an optional second scheme (Stable Diffusion's public mark), embedded
            first with ``public_payload``.
        provider: the organisation named in the labels (California SB 942's provider).
        include_prompt: put the prompt text in the labels and the registry (off: only its
            SHA-256 is kept).
        quality: JPEG and WebP quality.
        describe: the content description kept with each serial
            (:func:`~synthmark.watermark.attribution.describe_content`).
    """

    def __init__(
        self,
        marker: WatermarkScheme,
        labeller: Labeller,
        registry: Registry,
        *,
        public_mark: WatermarkScheme | None = None,
        public_payload: bytes | None = None,
        provider: str | None = None,
        include_prompt: bool = False,
        quality: int = 95,
        describe: Callable[[Image.Image], bytes] = describe_content,
    ) -> None:
        self.marker = marker
        self.labeller = labeller
        self.registry = registry
        self.public_mark = public_mark
        self.public_payload = public_payload
        self.provider = provider
        self.include_prompt = include_prompt
        self.quality = quality
        self.describe = describe

    # -- steps ---------------------------------------------------------------------------

    def check_size(self, image: Image.Image) -> None:
        """Raise :class:`ImageTooSmall` for an image too small for a scheme's mark."""
        for scheme in (self.public_mark, self.marker):
            need = int(getattr(scheme, "min_side", 0))
            if scheme is not None and min(image.size) < need:
                w, h = image.size
                raise ImageTooSmall(
                    f"the image is {w}x{h}; watermark scheme {scheme.name!r} needs at least "
                    f"{need} px on the short side"
                )

    def check_unmarked(self, image: Image.Image) -> None:
        """Refuse an image that carries our watermark already: a second serial in the same
        picture would make either one unreliable.

        Only images we labelled carry our mark, and each is in the registry: the mark is
        read (tens of ms) only when the picture looks like a registered one (perceptual
        hash, a few ms). A copy changed beyond the hash's reach (half cropped away, mirrored)
        is not caught here.
        """
        from synthmark.registry import DEFAULT_RADIUS, phash_image

        if not self.registry.lookup_phash(phash_image(image), DEFAULT_RADIUS, limit=1):
            return
        readout = self.marker.extract(image)
        if readout.present and readout.payload:
            serial = int.from_bytes(readout.payload, "big")
            raise LabelError(
                f"it already carries a synthmark watermark (serial {serial}); marking it again "
                "would leave two serials in one picture: label the original instead"
            )

    def _embed(self, image: Image.Image, serial: int) -> Image.Image:
        payload = serial_payload(serial, int(getattr(self.marker, "payload_bits", 64)))
        marked = image.convert("RGB") if image.mode != "RGB" else image
        if self.public_mark is not None:
            marked = self.public_mark.embed(marked, self.public_payload or b"")
        marked = embed_checked(self.marker, marked, payload)
        if self.public_mark is not None and not self.public_mark.extract(marked).present:
            raise WatermarkError(
                f"the public {self.public_mark.name} mark did not read back after embedding "
                "(its dwtDct method fails on some images); label without it"
            )
        return marked

    def _request(
        self, info: GenerationInfo, serial: int, created: datetime, include_prompt: bool
    ) -> LabelRequest:
        parameters = info.parameters()
        parameters["serial"] = serial
        parameters["generator"] = f"synthmark {__version__}"
        text = None
        if info.infotext is not None:  # the file's own, kept as it was
            text = rewrite_parameters(
                info.infotext,
                {"Serial": str(serial), "Generator": parameters["generator"]},
                include_prompt,
            )
        return LabelRequest(
            model_id=info.model,
            model_hash=info.model_hash,
            software_agent=info.software_agent,
            parameters=parameters,
            parameters_text=text,
            watermark_scheme=self.marker.name,
            watermark_serial=serial,
            watermark_payload=serial_payload(serial, int(getattr(self.marker, "payload_bits", 64))),
            include_prompt=include_prompt,
            provider=self.provider,
            created_at=created,
        )

    @staticmethod
    def _check_output(output: Path, source: SourceFile | None) -> None:
        """Refuse an output file that exists, or that is the input."""
        if output.is_dir():
            return
        if source is not None and source.path is not None and output.resolve() == (
            source.path.resolve()
        ):
            raise UsageError(f"{output} is the input file; synthmark never writes over its input")
        if output.exists():
            raise LabelError(f"{output} exists already; remove it or choose another output")

    def _target(self, output: Path, fmt: str, serial: int, source: SourceFile | None) -> Path:
        """The file to write: ``output``, or a name after the serial in the folder ``output``."""
        self._check_output(output, source)
        if not output.is_dir():
            return output
        suffix, stem = SUFFIXES[fmt], f"synthmark-{serial:08d}"
        target, n = output / f"{stem}{suffix}", 1
        while target.exists():
            target, n = output / f"{stem}-{n}{suffix}", n + 1
        return target

    # -- the whole ----------------------------------------------------------------------

    def label(
        self,
        image: Image.Image,
        info: GenerationInfo,
        output: str | Path,
        *,
        format: str | None = None,
        source: SourceFile | None = None,
        created: datetime | None = None,
        texts: Sequence[tuple[str, str]] = (),
    ) -> LabelResult:
        """Mark, label, sign, register and write one image (see the module docstring).

        ``output`` is the file to write, or an existing folder (the file is then named
        after the serial). ``format`` is ``png``, ``jpeg`` or ``webp``; None takes the
        output's suffix, else PNG. ``source`` is the file the image came from
        (:func:`~synthmark.labelling.source.read_source`): its manifest and metadata are
        kept, and it is never written over. ``texts`` are more PNG text chunks (key,
        value), written before the manifest is signed, such as ComfyUI's ``prompt`` and
        ``workflow`` JSON; only a PNG can carry them.
        """
        out = Path(output)
        if str(output).endswith(("/", os.sep)) and not out.is_dir():
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LabelError(f"cannot create the output folder {out}: {exc}") from None
        if not out.is_dir() and out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".webp"}:
            raise UsageError(
                f"output {output} is neither a folder nor a file name ending in .png, .jpg "
                "or .webp (end a new folder's name with '/')"
            )
        if format:
            fmt = label_format(format)
        elif source is not None:
            fmt = label_format(source.out_format)
        else:
            fmt = label_format(out.suffix if out.suffix and not out.is_dir() else "png")
        self.check_size(image)
        self._check_output(out, source)
        keep = _with_texts(source.kept if source is not None else None, texts, fmt)
        created = created or _now()
        include_prompt = source.include_prompt if source is not None else self.include_prompt
        stages: dict[str, float] = {}
        if source is not None:
            if not source.force and self.registry.by_sha256(source.sha256):
                raise LabelError(f"{source.name}: already labelled by synthmark (its exact "
                                 "bytes are in the registry); pass --force to label it again")
            t0 = time.perf_counter()
            self.check_unmarked(source.loaded.image)
            stages["mark_check"] = time.perf_counter() - t0
        serial = self.registry.reserve(
            watermark_scheme=self.marker.name,
            model_id=info.model,
            pipeline=info.pipeline or info.software,
        )
        try:
            return self._produce(
                image, info, out, fmt, serial, created, include_prompt, source, keep, stages
            )
        except BaseException as exc:
            self.registry.abandon(serial, reason=f"{type(exc).__name__}: {exc}")
            raise

    def _produce(
        self,
        image: Image.Image,
        info: GenerationInfo,
        out: Path,
        fmt: str,
        serial: int,
        created: datetime,
        include_prompt: bool,
        source: SourceFile | None,
        keep: KeptMetadata | None,
        stages: dict[str, float],
    ) -> LabelResult:
        from synthmark.registry import Commit, phash_image

        t0 = time.perf_counter()
        marked = self._embed(image, serial)
        content = self.describe(marked)
        stages["watermark"] = time.perf_counter() - t0
        request = self._request(info, serial, created, include_prompt)
        t1 = time.perf_counter()
        labelled = self.labeller.apply(
            marked,
            fmt,
            request,
            quality=self.quality,
            parent=source.parent if source is not None else None,
            keep=keep,
        )
        stages["encode"] = labelled.timings.get("encode", 0.0)
        stages["labels"] = time.perf_counter() - t1 - stages["encode"]
        target = self._target(out, fmt, serial, source)
        t2 = time.perf_counter()
        params: dict[str, Any] = request.parameters
        params.setdefault("size", f"{marked.width}x{marked.height}")
        with atomic_writer(target) as fh:
            fh.write(labelled.data)
            self.registry.store_manifest(serial, labelled.manifest_id, labelled.manifest_store)
            facts = Commit(
                sha256=labelled.sha256,
                phash=phash_image(marked),
                manifest_id=labelled.manifest_id,
                model_id=info.model,
                model_hash=info.model_hash,
                pipeline=info.pipeline or info.software,
                parameters=params,
                prompt=info.prompt,
                keep_prompt=include_prompt,
                image_format=fmt,
                width=marked.width,
                height=marked.height,
                created_at=created,
                content=content,
                content_scheme=self.marker.name,
            )
            self.registry.commit(serial, facts)
        stages["registry_and_write"] = time.perf_counter() - t2
        payload = request.soft_binding_payload or b""
        return LabelResult(
            path=target,
            serial=serial,
            manifest_id=labelled.manifest_id,
            sha256=labelled.sha256,
            format=fmt,
            width=marked.width,
            height=marked.height,
            model=info.model,
            watermark_scheme=self.marker.name,
            soft_binding={"alg": SOFT_BINDING_ALG, "value": binding_value(payload)},
            created=created.isoformat(),
            source=source.name if source is not None else None,
            parent_manifest_id=source.parent.manifest_id if source and source.parent else None,
            notes=[*(source.notes if source is not None else []), *labelled.notes],
            stages=stages,
            image=marked,
        )

    def close(self) -> None:
        """Free the signer and the registry connection."""
        self.labeller.close()
        self.registry.close()

    def __enter__(self) -> Labelling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_texts(
    keep: KeptMetadata | None, texts: Sequence[tuple[str, str]], fmt: str
) -> KeptMetadata | None:
    """``keep`` with ``texts`` added; a clear error for texts a ``fmt`` file cannot carry."""
    if not texts:
        return keep
    keys = [key for key, _ in texts]
    if fmt != "PNG":
        raise UsageError(
            f"text chunks ({', '.join(keys)}) can only be written into a PNG, not a {fmt}; "
            "choose png"
        )
    clash = sorted(OWN_TEXT_KEYS.intersection(keys))
    if clash:
        raise UsageError(f"text chunk {clash[0]!r} is written by the labeller itself")
    base = keep if keep is not None else KeptMetadata()
    return replace(base, texts=[*base.texts, *texts], kept=[*base.kept, *keys])


__all__ = ["SUFFIXES", "SUFFIX_ALIASES", "Labelling", "serial_payload"]
