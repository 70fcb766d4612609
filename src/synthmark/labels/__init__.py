"""Provenance labels: C2PA Content Credentials, IPTC XMP and generator metadata.

Writing (applied to a finished, already-watermarked image)::

    from synthmark.labels import LabelRequest, Labeller, load_credentials
    labeller = Labeller(load_credentials(settings))
    out = labeller.apply(image, "PNG", LabelRequest(model_id="tiny", watermark_serial=7))
    out.data, out.manifest_id          # bytes with XMP + parameters + signed C2PA manifest

Reading (any image, any source)::

    from synthmark.labels import read_labels
    report = read_labels(data, path, trust_anchors=local_trust_anchor(settings))

One module per label format: :mod:`~synthmark.labels.c2pa_manifest` (reading) and
:mod:`~synthmark.labels.c2pa_sign` (what we sign), :mod:`~synthmark.labels.soft_binding`
(our ``c2pa.soft-binding``), :mod:`~synthmark.labels.xmp`, :mod:`~synthmark.labels.exif`,
:mod:`~synthmark.labels.a1111`, :mod:`~synthmark.labels.generators`; a file's own metadata
kept through re-marking in :mod:`~synthmark.labels.keep`; a manifest recovered for a
stripped copy in :mod:`~synthmark.labels.recovery`; the signing keys in
:mod:`~synthmark.labels.credentials`. Labelling a whole image (mark, labels, registry) is
the capability :mod:`synthmark.labelling`.
"""

from synthmark.labels.c2pa_manifest import (
    GENERATION_ASSERTION,
    WATERMARK_ASSERTION,
    C2paAction,
    C2paReport,
    C2paStatus,
)
from synthmark.labels.credentials import (
    SigningCredentials,
    init_local_ca,
    load_credentials,
    local_trust_anchor,
)
from synthmark.labels.exif import ExifReport
from synthmark.labels.generators import GENERATOR_READERS, GeneratorMetadata
from synthmark.labels.labeller import Labeller
from synthmark.labels.report import LABEL_READERS, LabelReport, list_label_readers, read_labels
from synthmark.labels.request import LabelledImage, LabelRequest
from synthmark.labels.soft_binding import SOFT_BINDING_ALG
from synthmark.labels.xmp import XmpReport

__all__ = [
    "GENERATION_ASSERTION",
    "GENERATOR_READERS",
    "LABEL_READERS",
    "SOFT_BINDING_ALG",
    "WATERMARK_ASSERTION",
    "C2paAction",
    "C2paReport",
    "C2paStatus",
    "ExifReport",
    "GeneratorMetadata",
    "LabelReport",
    "LabelRequest",
    "LabelledImage",
    "Labeller",
    "SigningCredentials",
    "XmpReport",
    "init_local_ca",
    "list_label_readers",
    "load_credentials",
    "local_trust_anchor",
    "read_labels",
]
