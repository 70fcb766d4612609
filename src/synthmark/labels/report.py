"""Read every provenance label of any image into one :class:`LabelReport`.

>>> report = read_labels(Path("photo.jpg").read_bytes(), "photo.jpg")   # doctest: +SKIP
>>> report.c2pa.present, report.c2pa.validation_state, report.xmp.digital_source_type
(True, 'Valid', None)

A damaged file never raises: each reader's problem lands in its own ``errors`` (and in
:attr:`LabelReport.errors`), so one bad upload does not stop a batch. Label readers
register by name in :data:`LABEL_READERS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from synthmark.labels.c2pa_manifest import C2paReport, read_c2pa
from synthmark.labels.containers import MetadataBlocks, extract_blocks, mime_type
from synthmark.labels.exif import ExifReport, read_exif
from synthmark.labels.generators import (
    GeneratorMetadata,
    MetadataSources,
    read_generator_metadata,
)
from synthmark.labels.sourcetypes import declares_ai, short_name
from synthmark.labels.xmp import XmpReport, parse_xmp
from synthmark.names import NameRegistry


@dataclass
class LabelReport:
    """Every label found in one file.

    ``declared_ai`` lists, in words, the labels that declare generative AI (a C2PA digital
    source type anywhere in the chain, with the manifest's validation state, or an XMP
    DigitalSourceType). Generator metadata (``generators``) is reported as found, without
    a claim about the pixels.
    """

    path: str | None
    format: str | None
    size_bytes: int
    c2pa: C2paReport = field(default_factory=C2paReport)
    xmp: XmpReport = field(default_factory=XmpReport)
    exif: ExifReport = field(default_factory=ExifReport)
    generators: list[GeneratorMetadata] = field(default_factory=list)
    declared_ai: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class _ReadContext:
    data: bytes
    blocks: MetadataBlocks
    trust_anchors: bytes | str | None


LabelReader = Callable[[_ReadContext, LabelReport], None]


#: Label readers by name, run in this order (generator readers look at EXIF and XMP).
LABEL_READERS: NameRegistry[LabelReader] = NameRegistry("label reader")


@LABEL_READERS.register("c2pa")
def _read_c2pa(ctx: _ReadContext, report: LabelReport) -> None:
    mime = mime_type(ctx.blocks.format) if ctx.blocks.format else None
    report.c2pa = read_c2pa(ctx.data, mime, ctx.trust_anchors, jumbf_seen=ctx.blocks.jumbf)


@LABEL_READERS.register("xmp")
def _read_xmp(ctx: _ReadContext, report: LabelReport) -> None:
    if ctx.blocks.xmp is not None:
        report.xmp = parse_xmp(ctx.blocks.xmp)


@LABEL_READERS.register("exif")
def _read_exif(ctx: _ReadContext, report: LabelReport) -> None:
    report.exif = read_exif(ctx.blocks.exif)


@LABEL_READERS.register("generators")
def _read_generators(ctx: _ReadContext, report: LabelReport) -> None:
    report.generators = read_generator_metadata(
        MetadataSources(blocks=ctx.blocks, exif=report.exif, xmp=report.xmp)
    )


def list_label_readers() -> list[str]:
    """Names of the label readers."""
    return LABEL_READERS.names()


def declarations(report: LabelReport) -> list[str]:
    """The labels of ``report`` that declare generative AI, in words."""
    out = []
    ai_types = [short_name(t) for t in report.c2pa.digital_source_types if declares_ai(t)]
    if ai_types:
        state = report.c2pa.validation_state or "unvalidated"
        if report.c2pa.recovered:
            state = f"recovered through the {report.c2pa.recovered_via}, signature " + str(
                report.c2pa.signature_state
            )
        out.append(f"C2PA manifest ({state}): {', '.join(dict.fromkeys(ai_types))}")
    dst = report.xmp.digital_source_type
    if dst and declares_ai(dst):
        out.append(f"XMP DigitalSourceType: {short_name(dst)}")
    return out


def read_labels(
    data: bytes,
    path: str | os.PathLike[str] | None = None,
    *,
    trust_anchors: bytes | str | None = None,
    readers: list[str] | None = None,
) -> LabelReport:
    """Read the labels of one image file's bytes.

    >>> report = read_labels(Path("photo.jpg").read_bytes(), "photo.jpg")   # doctest: +SKIP
    >>> report.c2pa.validation_state, report.declared_ai                   # doctest: +SKIP
    ('Trusted', ['C2PA (Trusted): trainedAlgorithmicMedia'])

    Args:
        data: the file's bytes, any format.
        path: where it came from, for the report only.
        trust_anchors: PEM root certificates to trust (such as the local CA from
            ``synthmark keys init``); a manifest signed under one reads ``Trusted``.
        readers: names from :data:`LABEL_READERS` (all by default).

    Raises:
        ValueError: an unknown reader name (the message lists the known ones).
    """
    names = readers or LABEL_READERS.names()
    for name in names:
        _ = LABEL_READERS[name]  # an unknown name raises before any work
    blocks = extract_blocks(data)
    report = LabelReport(
        path=os.fspath(path) if path is not None else None,
        format=blocks.format,
        size_bytes=len(data),
    )
    if not data:
        report.errors.append("empty file (0 bytes)")
        return report
    if blocks.format is None:
        report.errors.append("not an image in a format synthmark recognises")
    ctx = _ReadContext(data=data, blocks=blocks, trust_anchors=trust_anchors)
    for name in (n for n in LABEL_READERS if n in names):
        LABEL_READERS[name](ctx, report)
    report.errors.extend(blocks.errors)
    for part, errors in (("c2pa", report.c2pa.errors), ("xmp", report.xmp.errors)):
        report.errors.extend(f"{part}: {e}" for e in errors)
    report.errors.extend(f"exif: {e}" for e in report.exif.errors)
    report.declared_ai = declarations(report)
    return report


__all__ = ["LABEL_READERS", "LabelReport", "declarations", "list_label_readers", "read_labels"]
