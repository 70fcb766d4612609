"""synthmark's own watermark: a keyed, periodic, band-limited luminance pattern.

A keyed pattern repeated on a square lattice at a working resolution of at most 512 px
(:mod:`.design`, :mod:`.pattern`), as strong as a PSNR bound and a model of SSIM allow
(:mod:`.budget`); the decoder finds the lattice in the whitened spectrum, aligns the keyed
sync lines on it (:mod:`.sync`), and decodes 64 bits with a soft Viterbi decoder and a
CRC-24 (:mod:`.decode`), within a false-positive bound derived in code (:mod:`.bound`).
:class:`TiledScheme` is the ``embed`` / ``extract`` front.

>>> scheme = TiledScheme(key)                                   # doctest: +SKIP
>>> scheme.extract(scheme.embed(image, bytes(8))).payload       # doctest: +SKIP
b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00'
"""

from synthmark.watermark.tiled.bound import FalsePositiveBound, Stage, phase_tail_bound
from synthmark.watermark.tiled.design import TileDesign
from synthmark.watermark.tiled.scheme import TiledScheme

__all__ = ["FalsePositiveBound", "Stage", "TileDesign", "TiledScheme", "phase_tail_bound"]
