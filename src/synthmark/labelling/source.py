"""An existing image file, read for labelling: its pixels, what made it, and what it carries.

:func:`read_source` decodes the file safely, refuses what cannot be labelled (animations,
files synthmark labelled already, manifests that cannot be kept), reads the generation
parameters from the file's own generator metadata, and sorts its metadata into what the
labelled file keeps (its C2PA manifest as parent ingredient; EXIF, ICC and XMP that do not
conflict) and what it cannot keep, with the reason.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from synthmark.errors import LabelError, UnsupportedImage
from synthmark.imaging import ImageLimits, LoadedImage, load_image
from synthmark.labelling.info import GenerationInfo
from synthmark.labels.a1111 import parse_parameters
from synthmark.labels.c2pa_sign import ParentIngredient
from synthmark.labels.containers import MetadataBlocks, extract_blocks, mime_type
from synthmark.labels.exif import TAG_SOFTWARE, TAG_USER_COMMENT, read_exif
from synthmark.labels.keep import KeptMetadata, keep_metadata
from synthmark.labels.labeller import LABEL_FORMATS
from synthmark.labels.report import LabelReport, read_labels

#: Output format when the input's own cannot carry labels (TIFF, GIF, AVIF, BMP, HEIF).
FALLBACK_FORMAT = "PNG"
#: Tools whose parameters text is AUTOMATIC1111's infotext (kept as it was when labelled).
INFOTEXT_TOOLS = frozenset({"AUTOMATIC1111", "Forge", "SD.Next", "Fooocus"})


@dataclass
class SourceFile:
    """An input file, ready to be labelled."""

    path: Path | None
    loaded: LoadedImage = field(repr=False)
    labels: LabelReport = field(repr=False)
    sha256: str
    out_format: str
    info: GenerationInfo | None
    include_prompt: bool
    force: bool = False
    parent: ParentIngredient | None = None
    kept: KeptMetadata = field(default_factory=KeptMetadata)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "input"


def labelled_by_us(labels: LabelReport) -> list[str]:
    """What in a file says synthmark labelled it already (empty: nothing)."""
    found = []
    ours = [m for m in labels.c2pa.manifests if (m.claim_generator or "").startswith("synthmark")]
    if ours:
        serial = (labels.c2pa.watermark or {}).get("serial")
        found.append(
            f"a C2PA manifest signed by synthmark ({ours[0].label}"
            + (f", serial {serial})" if serial is not None else ")")
        )
    if (labels.xmp.creator_tool or "").startswith("synthmark"):
        found.append(f"XMP CreatorTool {labels.xmp.creator_tool!r}")
    for meta in labels.generators:
        generator = str(meta.fields.get("generator", ""))
        if generator.startswith("synthmark"):
            found.append(f"generation parameters written by {generator} ({meta.where})")
    return found


def _parent(
    data: bytes, labels: LabelReport, name: str, drop_manifest: bool, notes: list[str]
) -> ParentIngredient | None:
    """The file as parent ingredient when its manifest can be kept; else an error, or a
    note with ``drop_manifest``."""
    c2pa = labels.c2pa
    if not c2pa.present and not c2pa.remote_url:
        return None
    if c2pa.present and c2pa.validation_state in ("Valid", "Trusted") and c2pa.manifest_id:
        if drop_manifest:
            notes.append(f"C2PA manifest {c2pa.manifest_id}: dropped (--drop-manifest)")
            return None
        fmt = labels.format or ""
        return ParentIngredient(data, mime_type(fmt), Path(name).name, c2pa.manifest_id)
    if c2pa.remote_url:
        why = f"it is remote ({c2pa.remote_url}) and synthmark reads offline"
    else:
        codes = ", ".join(c2pa.failure_codes[:3] or c2pa.errors[:1]) or "unreadable"
        why = f"it does not validate ({c2pa.validation_state or 'unreadable'}: {codes})"
    if not drop_manifest:
        raise LabelError(
            f"its C2PA manifest cannot be kept: {why}; pass --drop-manifest to label it "
            "without that manifest"
        )
    notes.append(f"C2PA manifest: dropped (--drop-manifest), since {why}")
    return None


def _out_format(wanted: str | None, source_format: str | None, notes: list[str]) -> str:
    if wanted is not None:
        return LABEL_FORMATS.get(wanted.strip().upper().lstrip("."), wanted.upper())
    own = LABEL_FORMATS.get((source_format or "").upper())
    if own is not None:
        return own
    notes.append(
        f"written as {FALLBACK_FORMAT}: labels cannot be written into {source_format or 'this'} "
        "files (PNG, JPEG and WebP can carry them)"
    )
    return FALLBACK_FORMAT


def _with_infotext(info: GenerationInfo | None, blocks: MetadataBlocks) -> GenerationInfo | None:
    """``info`` with the file's own AUTOMATIC1111-style text, to write it back as it was."""
    if info is None or info.pipeline not in INFOTEXT_TOOLS:
        return info
    text = blocks.text("parameters") or read_exif(blocks.exif).user_comment
    if not text or parse_parameters(text) is None:
        return info
    return replace(info, infotext=text)


def read_source(
    source: str | os.PathLike[str] | bytes,
    *,
    out_format: str | None = None,
    limits: ImageLimits | None = None,
    trust_anchors: bytes | None = None,
    force: bool = False,
    drop_manifest: bool = False,
    include_prompt: bool | None = None,
) -> SourceFile:
    """Read an image file for labelling.

    Args:
        source: a path, or the file's bytes.
        out_format: ``PNG``, ``JPEG`` or ``WEBP``; None follows the input (PNG for inputs
            whose format cannot carry labels).
        force: label a file that synthmark labelled already.
        drop_manifest: label a file whose C2PA manifest cannot be kept, without it (a
            valid manifest is then dropped too).
        include_prompt: keep the prompt in the labels; None keeps it when the file's own
            metadata carried it.

    Raises:
        UnsupportedImage: unreadable, animated or multi-page.
        LabelError: labelled by synthmark already (without ``force``), or a manifest that
            cannot be kept (without ``drop_manifest``).
    """
    loaded = load_image(source, limits)
    path = loaded.path
    name = str(path) if path is not None else "input"
    if loaded.frames > 1:
        raise UnsupportedImage(
            f"{name}: {loaded.frames} frames: synthmark labels still images only (a mark and "
            "a manifest for the first frame would misdescribe the others)"
        )
    labels = read_labels(loaded.data, name, trust_anchors=trust_anchors)
    ours = labelled_by_us(labels)
    if ours and not force:
        raise LabelError(
            f"{name}: already labelled by synthmark ({'; '.join(ours)}); pass --force to "
            "label it again"
        )
    notes = list(loaded.notes)
    parent = _parent(loaded.data, labels, name, drop_manifest, notes)
    fmt = _out_format(out_format, loaded.format, notes)
    blocks = extract_blocks(loaded.data)
    info = _with_infotext(GenerationInfo.from_metadata(labels.generators), blocks)
    had_prompt = (info is not None and info.prompt is not None) or bool(labels.xmp.ai_prompt)
    keep_prompt = had_prompt if include_prompt is None else include_prompt
    kept = keep_metadata(
        blocks,
        loaded.info,
        loaded.original_mode,
        loaded.size,
        fmt,
        replace_exif=(TAG_SOFTWARE, TAG_USER_COMMENT),
        replace_texts=("parameters", "Software"),
        drop_prompts=not keep_prompt,
    )
    notes.extend(kept.dropped)
    return SourceFile(
        path=path,
        loaded=loaded,
        labels=labels,
        sha256=hashlib.sha256(loaded.data).hexdigest(),
        out_format=fmt,
        info=info,
        include_prompt=keep_prompt,
        force=force,
        parent=parent,
        kept=kept,
        notes=notes,
    )


@dataclass(frozen=True)
class PlannedFile:
    """One input of a labelling batch: where its labelled copy goes, or why it cannot."""

    path: Path
    folder: Path
    error: str | None = None


def plan_outputs(inputs: list[str], out: Path) -> list[PlannedFile]:
    """Every input file (files, folders, globs) with the folder its labelled copy goes to:
    ``out``, or for a file found in a folder, the same sub-folder under ``out``."""
    from synthmark.imaging import expand_inputs

    plan: list[PlannedFile] = []
    for raw in inputs:
        root = Path(raw)
        for item in expand_inputs([raw]):
            folder = out
            if root.is_dir() and item.error is None:
                folder = out / item.path.parent.relative_to(root)
            plan.append(PlannedFile(item.path, folder, item.error))
    return plan


__all__ = [
    "FALLBACK_FORMAT",
    "PlannedFile",
    "SourceFile",
    "labelled_by_us",
    "plan_outputs",
    "read_source",
]
