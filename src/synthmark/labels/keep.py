"""What of a file's own metadata survives when its pixels are marked and saved again.

:func:`keep_metadata` sorts a source file's EXIF, ICC profile, XMP packet, PNG text chunks
and JPEG comment into what can be carried into the new file and what cannot, with the
reason for each drop in words (:attr:`KeptMetadata.dropped`). :func:`save_options` turns
the result into Pillow ``save()`` arguments. ``synthmark label`` merges our own labels on
top (:func:`synthmark.labels.xmp.merge_xmp`, :func:`synthmark.labels.exif.build_exif`);
``synthmark watermark embed`` writes what is kept as it is.

What conflicts with the new file is not kept:

* EXIF ``Orientation`` (the loader rotated the pixels), the embedded thumbnail (it shows
  the picture before the mark), ``Software`` and ``UserComment`` when labels replace them;
* an ICC profile that cannot describe RGB pixels (a CMYK or grey profile: the loader
  converted the pixels to RGB);
* PNG text chunks and JPEG comments in a format that has no place for them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, PngImagePlugin

from synthmark.imaging import LoadedImage
from synthmark.labels.containers import MetadataBlocks

TAG_ORIENTATION = 0x0112
TAG_SOFTWARE = 0x0131
TAG_IMAGE_WIDTH = 0x0100
TAG_IMAGE_LENGTH = 0x0101
TAG_USER_COMMENT = 0x9286
TAG_PIXEL_X = 0xA002
TAG_PIXEL_Y = 0xA003

#: PNG text chunks that hold prompts (A1111, ComfyUI, InvokeAI, NovelAI, Midjourney...).
PROMPT_TEXT_KEYS = frozenset(
    {
        "parameters",
        "prompt",
        "workflow",
        "Description",
        "Comment",
        "invokeai_metadata",
        "invokeai_graph",
        "invokeai_workflow",
        "sd-metadata",
        "Dream",
    }
)
#: PNG text chunks longer than this are written compressed (zTXt / compressed iTXt).
ZIP_TEXT_OVER = 1024


@dataclass
class KeptMetadata:
    """A source file's metadata that may be written into the new file, and what was not."""

    exif: Image.Exif | None = field(default=None, repr=False)
    icc_profile: bytes | None = field(default=None, repr=False)
    xmp: bytes | None = field(default=None, repr=False)
    texts: list[tuple[str, str]] = field(default_factory=list, repr=False)
    comment: bytes | None = field(default=None, repr=False)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _icc_space(profile: bytes) -> str:
    return profile[16:20].decode("ascii", errors="replace").strip() if len(profile) >= 20 else ""


def _keep_icc(profile: object, original_mode: str, out: KeptMetadata) -> None:
    if not isinstance(profile, bytes) or not profile:
        return
    space = _icc_space(profile)
    if space == "RGB" and original_mode not in ("CMYK", "L", "LA", "I", "I;16", "F", "1"):
        out.icc_profile = profile
        out.kept.append("ICC profile")
    else:
        out.dropped.append(
            f"ICC profile ({space or 'unreadable'} colour space): the pixels are now 8-bit "
            "RGB, which that profile cannot describe"
        )


def _keep_exif(
    exif: Image.Exif | None,
    size: tuple[int, int],
    replace: Collection[int],
    out: KeptMetadata,
) -> None:
    if exif is None or not (len(exif) or exif.get_ifd(ExifTags.IFD.Exif)):
        return
    kept = Image.Exif()
    try:
        kept.load(exif.tobytes())
        sub = kept.get_ifd(ExifTags.IFD.Exif)
        thumbnail = bool(exif.get_ifd(ExifTags.IFD.IFD1))
    except (ValueError, KeyError, TypeError, OSError, SyntaxError) as exc:
        out.dropped.append(f"EXIF: it could not be parsed ({exc})")
        return
    orientation = kept.get(TAG_ORIENTATION)
    if orientation not in (None, 1):
        out.dropped.append(
            f"EXIF Orientation {orientation}: the rotation was applied to the pixels"
        )
    for tag in (TAG_ORIENTATION, TAG_IMAGE_WIDTH, TAG_IMAGE_LENGTH):
        kept.pop(tag, None)
    for tag, name in ((TAG_SOFTWARE, "Software"),):
        if tag in replace and kept.get(tag):
            out.dropped.append(f"EXIF {name} {kept[tag]!r}: replaced by synthmark's")
            kept.pop(tag, None)
    if TAG_USER_COMMENT in replace and sub.get(TAG_USER_COMMENT):
        out.dropped.append(
            "EXIF UserComment: replaced by the generation parameters (what they held is "
            "carried over where synthmark could read it)"
        )
        sub.pop(TAG_USER_COMMENT, None)
    if TAG_PIXEL_X in sub or TAG_PIXEL_Y in sub:
        sub[TAG_PIXEL_X], sub[TAG_PIXEL_Y] = size
    if thumbnail:
        out.dropped.append("EXIF thumbnail: it shows the picture as it was before marking")
    out.exif = kept
    out.kept.append("EXIF")


def _keep_texts(
    blocks: MetadataBlocks,
    fmt: str,
    replace: Collection[str],
    drop_prompts: bool,
    out: KeptMetadata,
) -> None:
    for entry in blocks.texts:
        if entry.key in replace:
            continue
        if entry.where == "JPEG COM":
            if fmt == "JPEG" and out.comment is None:
                out.comment = entry.value.encode("utf-8")
                out.kept.append("JPEG comment")
            else:
                out.dropped.append(f"JPEG comment: a {fmt} file has no place for it")
            continue
        if not entry.where.startswith("PNG"):
            continue
        if drop_prompts and entry.key in PROMPT_TEXT_KEYS:
            out.dropped.append(f"PNG text '{entry.key}': it holds the prompt (prompts left out)")
        elif fmt != "PNG":
            out.dropped.append(f"PNG text '{entry.key}': a {fmt} file has no text chunks")
        else:
            out.texts.append((entry.key, entry.value))
            out.kept.append(f"PNG text '{entry.key}'")


def keep_metadata(
    blocks: MetadataBlocks,
    info: dict[str, object],
    original_mode: str,
    size: tuple[int, int],
    fmt: str,
    *,
    replace_exif: Collection[int] = (),
    replace_texts: Collection[str] = (),
    drop_prompts: bool = False,
) -> KeptMetadata:
    """Sort a source file's metadata for a new ``fmt`` (``PNG``, ``JPEG``, ``WEBP``) file.

    Args:
        blocks: the source's metadata blocks (:func:`~synthmark.labels.containers.extract_blocks`).
        info: the decoder's ``info`` (:attr:`synthmark.imaging.LoadedImage.info`): the ICC
            profile comes from there.
        original_mode: the source's Pillow mode, before conversion to RGB.
        size: the new image's size (EXIF pixel dimensions are set to it).
        replace_exif: EXIF tags the caller writes itself (``Software``, ``UserComment``).
        replace_texts: PNG text keys the caller writes itself (``parameters``, ``Software``).
        drop_prompts: leave out every text chunk that holds a prompt.
    """
    out = KeptMetadata()
    _keep_icc(info.get("icc_profile"), original_mode, out)
    _keep_exif(blocks.exif, size, replace_exif, out)
    if blocks.xmp:
        out.xmp = blocks.xmp
        out.kept.append("XMP")
    _keep_texts(blocks, fmt, replace_texts, drop_prompts, out)
    return out


def carried_metadata(loaded: LoadedImage, fmt: str) -> KeptMetadata:
    """What of a decoded file's metadata a re-marked copy in ``fmt`` keeps as it is (no labels
    of ours): everything :func:`keep_metadata` keeps, the XMP without its stale properties;
    a C2PA manifest cannot be kept, and is said so."""
    from synthmark.labels.containers import extract_blocks
    from synthmark.labels.xmp import merge_xmp

    blocks = extract_blocks(loaded.data)
    kept = keep_metadata(blocks, loaded.info, loaded.original_mode, loaded.size, fmt)
    if kept.xmp is not None:
        kept.xmp, stale = merge_xmp(kept.xmp, None)
        kept.dropped.extend(stale)
    if blocks.jumbf:
        kept.dropped.append(
            "C2PA manifest: the mark changes the pixels, so its hash of the signed file would "
            "no longer match and it would read Invalid (`synthmark label` signs a new "
            "manifest that keeps it as its ingredient)"
        )
    return kept


def save_options(
    fmt: str,
    kept: KeptMetadata | None,
    *,
    exif: Image.Exif | None = None,
    xmp: bytes | None = None,
    texts: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Pillow ``save()`` arguments that write ``kept`` into a ``fmt`` file.

    ``exif`` and ``xmp`` replace the kept ones (pass merged versions); ``texts`` are PNG
    text chunks written after the kept ones.
    """
    options: dict[str, Any] = {}
    if kept is not None and kept.icc_profile:
        options["icc_profile"] = kept.icc_profile
    exif = exif if exif is not None else (kept.exif if kept is not None else None)
    if exif is not None and (len(exif) or exif.get_ifd(ExifTags.IFD.Exif)):
        options["exif"] = exif
    xmp = xmp if xmp is not None else (kept.xmp if kept is not None else None)
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", errors="replace"), zip=False)
        for key, value in [*(kept.texts if kept is not None else []), *texts]:
            info.add_text(key, value, zip=len(value) > ZIP_TEXT_OVER)
        options["pnginfo"] = info
    else:
        if xmp:
            options["xmp"] = xmp
        if fmt == "JPEG" and kept is not None and kept.comment:
            options["comment"] = kept.comment
    return options


__all__ = [
    "PROMPT_TEXT_KEYS",
    "KeptMetadata",
    "carried_metadata",
    "keep_metadata",
    "save_options",
]
