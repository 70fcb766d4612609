"""Feature extractors, registered by name.

=============== ==========================================================================
name            what it computes
=============== ==========================================================================
``grid``        residual statistics at each phase of the 8x8 up-sampling grid (default)
``spectrum``    grid peaks of the averaged power spectrum of the Laplacian residual
``cooccurrence`` SPAM-style joint histograms of truncated residuals
``periodic``    shift-invariant harmonics of the residual at periods 8, 6 and 4 (crop/resize)
``cnn``         a small CNN on residual patches, trained from scratch on CPU
``timm``        pooled embedding of a frozen, pretrained timm backbone
``mobilenetv2`` mean and spread of several layers of an ImageNet MobileNetV2 (pinned weights)
=============== ==========================================================================

None of them reads the container: quantisation tables, file size and metadata never reach
a feature. ``a+b`` concatenates extractors.
"""

# Imported for their side effect: each module registers its extractor.
from synthmark.detect.extractors import (  # noqa: F401
    cooccurrence,
    grid,
    mobilenet,
    periodic,
    small_cnn,
    spectrum,
    timm_backbone,
)
from synthmark.detect.extractors.base import (
    EXTRACTORS,
    ConcatExtractor,
    FeatureExtractor,
    Features,
    create_extractor,
    extractor_spec,
    list_extractors,
    register_extractor,
)

__all__ = [
    "EXTRACTORS",
    "ConcatExtractor",
    "FeatureExtractor",
    "Features",
    "create_extractor",
    "extractor_spec",
    "list_extractors",
    "register_extractor",
]
