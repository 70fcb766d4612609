"""invisible-watermark's methods (:mod:`synthmark.watermark.invisible`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from synthmark.watermark import (
    get_scheme,
)


def test_vectorised_dwtdct_decoder_matches_invisible_watermark(photo: Image.Image) -> None:
    from synthmark.watermark.invisible import (
        _bgr,
        dwtdct_block_scores,
        load_imwatermark_module,
        votes_to_bits,
    )

    module = load_imwatermark_module("maxDct")
    marked = get_scheme("sdxl").embed(photo, b"")
    for image in (photo, marked):
        bgr = _bgr(image)
        for n in (136, 48, 32):
            ours, _ = votes_to_bits(dwtdct_block_scores(bgr), n)
            theirs = module.EmbedMaxDct([], wmLen=n, scales=[0, 36, 36], block=4).decode(bgr)
            assert np.array_equal(ours, np.asarray(theirs, np.uint8))
