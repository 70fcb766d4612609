"""Label a finished (already watermarked) image: XMP and text metadata, then C2PA, last.

The order matters: the C2PA manifest hashes the final bytes, so it is signed after
everything else is written. :meth:`Labeller.apply` reads its own output back and raises
:class:`~synthmark.errors.LabelError` unless the manifest validates and the XMP and
parameters are there: it never returns an unlabelled file.

>>> creds = load_credentials(Settings.from_env())            # doctest: +SKIP
>>> with Labeller(creds) as labeller:                        # doctest: +SKIP
...     out = labeller.apply(image, "PNG", LabelRequest(model_id="tiny", watermark_serial=7))
>>> out.manifest_id, out.validation_state                     # doctest: +SKIP
('urn:c2pa:...', 'Trusted')
"""

from __future__ import annotations

import hashlib
import io
import time
from typing import TYPE_CHECKING, Any

from PIL import Image

from synthmark import __version__
from synthmark.errors import LabelError, UsageError
from synthmark.labels.a1111 import format_parameters
from synthmark.labels.c2pa_manifest import C2paReport, offline_settings, read_c2pa
from synthmark.labels.c2pa_sign import (
    ParentIngredient,
    make_signer,
    manifest_definition,
    sign_bytes,
)
from synthmark.labels.containers import extract_blocks, mime_type
from synthmark.labels.credentials import SigningCredentials
from synthmark.labels.exif import build_exif, read_exif
from synthmark.labels.keep import KeptMetadata, save_options
from synthmark.labels.request import LabelledImage, LabelRequest
from synthmark.labels.soft_binding import binding_value
from synthmark.labels.xmp import XmpFields, build_xmp, merge_xmp, parse_xmp

if TYPE_CHECKING:
    import c2pa

#: Formats the labeller writes, with the aliases it accepts.
LABEL_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "JPG": "JPEG", "WEBP": "WEBP"}


#: The claim thumbnail's long edge and JPEG quality. c2pa's own thumbnail (its defaults:
#: 1024 px, the asset's format) made a 1 MB lossless WebP thumbnail for a 100 KB 512x512
#: WebP and took 40 ms; even at 256 px it decodes the encoded file again (5 ms at 512 px),
#: so the thumbnail is made here from the pixels at hand and c2pa's is turned off.
THUMBNAIL_EDGE, THUMBNAIL_QUALITY = 256, 75


def claim_thumbnail(image: Image.Image) -> bytes:
    """The JPEG thumbnail a manifest carries (what Content Credentials viewers show)."""
    small = image.convert("RGB") if image.mode != "RGB" else image.copy()
    small.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buf.getvalue()


def label_format(fmt: str) -> str:
    """``PNG``, ``JPEG`` or ``WEBP`` from any case or alias; ``UsageError`` otherwise."""
    name = LABEL_FORMATS.get(fmt.strip().upper().lstrip("."))
    if name is None:
        raise UsageError(f"cannot label format {fmt!r}; known: PNG, JPEG, WEBP")
    return name


def a1111_text(req: LabelRequest) -> str:
    """The AUTOMATIC1111 ``parameters`` text of a request (prompt only on opt-in)."""
    if req.parameters_text is not None:
        return req.parameters_text
    params: dict[str, Any] = dict(req.parameters)
    params.setdefault("model", req.model_id)
    if req.model_hash:
        params.setdefault("model_hash", req.model_hash)
    return format_parameters(params, include_prompt=req.include_prompt)


def xmp_packet(req: LabelRequest) -> bytes:
    """The XMP packet of a request."""
    prompt = req.parameters.get("prompt") if req.include_prompt else None
    return build_xmp(
        XmpFields(
            digital_source_type=req.digital_source_type,
            credit=req.credit_line(),
            creator_tool=f"synthmark {__version__}",
            created=req.timestamp(),
            ai_system=req.model_id,
            ai_system_version=req.model_hash,
            prompt=str(prompt) if prompt else None,
        )
    )


def encode_with_metadata(
    image: Image.Image,
    fmt: str,
    req: LabelRequest,
    quality: int = 95,
    png_compress_level: int = 1,
    keep: KeptMetadata | None = None,
) -> tuple[bytes, list[str]]:
    """Encode ``image`` as ``fmt`` with XMP, the ``parameters`` text and EXIF, not yet signed;
    with ``keep``, the source file's own metadata too (ours wins where they conflict).

    PNG: ``iTXt XML:com.adobe.xmp``, ``parameters`` and ``Software`` text chunks.
    JPEG and WebP: XMP (APP1 / ``XMP `` chunk) and EXIF with ``Software`` and the
    parameters in ``UserComment``, as AUTOMATIC1111 writes them. ``quality`` applies to
    JPEG and WebP. PNG is written at zlib level 1: at 512 px a third of the time of level 6
    (Pillow's default) for files 5% larger (``benchmarks/png_compress.py``).
    Returns the bytes and what of the source's XMP was left out.
    """
    fmt = label_format(fmt)
    software = f"synthmark {__version__}"
    text = a1111_text(req)
    ours = xmp_packet(req)
    xmp, dropped = merge_xmp(keep.xmp if keep is not None else None, ours)
    xmp = xmp or ours
    keep_modes = ("RGB", "RGBA", "L") if fmt != "JPEG" else ("RGB", "L")
    if image.mode not in keep_modes:
        image = image.convert("RGB")
    if fmt == "PNG":
        options = save_options(
            fmt, keep, xmp=xmp, texts=[("parameters", text), ("Software", software)]
        )
        options["compress_level"] = png_compress_level
    else:
        exif = build_exif(software, text, base=keep.exif if keep is not None else None)
        options = save_options(fmt, keep, exif=exif, xmp=xmp)
        options["quality"] = quality
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **options)
    except (ValueError, OSError, TypeError) as exc:
        raise LabelError(f"cannot encode the {fmt} with its metadata: {exc}") from exc
    return buf.getvalue(), dropped


class Labeller:
    """Writes XMP, generator parameters and a signed C2PA manifest into images.

    ``thumbnail`` embeds a JPEG thumbnail (256 px on the long edge, what Content
    Credentials viewers show; about 10 KB and 2 ms per image). ``verify`` reads each
    output back and raises unless every label is there and the manifest validates; leave
    it on.
    """

    def __init__(
        self,
        credentials: SigningCredentials,
        *,
        thumbnail: bool = True,
        verify: bool = True,
        quality: int = 95,
    ) -> None:
        if not 1 <= quality <= 100:
            raise UsageError(f"quality must be 1..100, got {quality}")
        self.credentials = credentials
        self.thumbnail = thumbnail
        self.verify = verify
        self.quality = quality
        self._signer: c2pa.Signer | None = None
        self._context: c2pa.Context | None = None

    def _native(self) -> tuple[c2pa.Signer, c2pa.Context]:
        import c2pa

        if self._signer is None or self._context is None:
            creds = self.credentials
            try:
                self._signer = make_signer(
                    creds.cert_chain_pem, creds.private_key_pem, creds.alg, creds.tsa_url
                )
                self._context = c2pa.Context.from_dict(
                    offline_settings(
                        creds.trust_anchor_pem,
                        builder={"thumbnail": {"enabled": False}},  # ours: apply()
                    )
                )
            except c2pa.C2paError as exc:
                self.close()
                raise LabelError(
                    f"c2pa refused the signing credentials ({creds.source}): {exc}"
                ) from None
        return self._signer, self._context

    def apply(
        self,
        image: Image.Image,
        fmt: str,
        req: LabelRequest,
        *,
        quality: int | None = None,
        parent: ParentIngredient | None = None,
        keep: KeptMetadata | None = None,
    ) -> LabelledImage:
        """Encode ``image`` as ``fmt`` with every label of ``req``; the manifest is signed last.

        ``parent`` is a file whose C2PA manifest the new one keeps as its ``parentOf``
        ingredient; ``keep`` is that file's other metadata to carry over.

        Raises:
            UsageError: an unknown format.
            LabelError: any label could not be written, or did not read back.
        """
        import c2pa

        fmt = label_format(fmt)
        mime = mime_type(fmt)
        t0 = time.perf_counter()
        unsigned, notes = encode_with_metadata(image, fmt, req, quality or self.quality, keep=keep)
        t1 = time.perf_counter()
        signer, context = self._native()
        definition = manifest_definition(req, mime, parent)
        try:
            thumbnail = claim_thumbnail(image) if self.thumbnail else None
            signed, store = sign_bytes(
                unsigned, mime, definition, signer, context, parent, thumbnail
            )
        except c2pa.C2paError as exc:
            raise LabelError(f"C2PA signing failed: {exc}") from exc
        t2 = time.perf_counter()
        c2pa_report = read_c2pa(signed, mime, self.credentials.trust_anchor_pem)
        if self.verify:
            self._check(signed, req, c2pa_report, parent)
        if not c2pa_report.manifest_id:
            raise LabelError("the signed file has no active C2PA manifest id")
        return LabelledImage(
            data=signed,
            format=fmt,
            mime_type=mime,
            manifest_id=c2pa_report.manifest_id,
            sha256=hashlib.sha256(signed).hexdigest(),
            validation_state=c2pa_report.validation_state or "",
            manifest_store=store,
            notes=notes,
            timings={
                "encode": t1 - t0,
                "sign": t2 - t1,
                "verify": time.perf_counter() - t2,
            },
        )

    def _check(
        self,
        signed: bytes,
        req: LabelRequest,
        report: C2paReport,
        parent: ParentIngredient | None = None,
    ) -> None:
        problems: list[str] = []
        state = report.validation_state
        if state not in ("Valid", "Trusted"):
            codes = ", ".join(report.failure_codes + report.errors) or "no reason given"
            problems.append(f"the C2PA manifest reads back as {state} ({codes})")
        if req.digital_source_type not in report.digital_source_types:
            problems.append("the C2PA manifest lacks the digital source type")
        if req.watermark_serial is not None and (
            not report.watermark or report.watermark.get("serial") != req.watermark_serial
        ):
            problems.append("the C2PA manifest lacks the watermark serial")
        payload = req.soft_binding_payload
        if payload is not None and binding_value(payload) not in [
            b["value"] for b in report.soft_bindings
        ]:
            problems.append("the C2PA manifest lacks its soft binding")
        if parent is not None and parent.manifest_id is not None and (
            not report.manifests or parent.manifest_id not in report.manifests[0].ingredients
        ):
            problems.append(f"the C2PA manifest does not keep {parent.manifest_id} as ingredient")
        blocks = extract_blocks(signed)
        xmp = parse_xmp(blocks.xmp) if blocks.xmp else None
        if xmp is None or xmp.digital_source_type != req.digital_source_type:
            problems.append("the XMP DigitalSourceType did not survive signing")
        params = blocks.text("parameters") or read_exif(blocks.exif).user_comment
        if not params:
            problems.append("the generation parameters did not survive signing")
        if problems:
            raise LabelError("labelling failed: " + "; ".join(problems))

    def close(self) -> None:
        """Free the native signer and context."""
        for handle in (self._signer, self._context):
            if handle is not None:
                handle.close()
        self._signer = None
        self._context = None

    def __enter__(self) -> Labeller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["LABEL_FORMATS", "Labeller", "a1111_text", "encode_with_metadata", "label_format"]
