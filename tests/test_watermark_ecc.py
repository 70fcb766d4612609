"""Error control (:mod:`synthmark.watermark.ecc`): the convolutional code, list Viterbi and
the CRCs.
"""

from __future__ import annotations

import numpy as np
import pytest

from synthmark.watermark.ecc import ConvCode, bits_to_bytes, bytes_to_bits, crc16, crc24
from tests.watermark_images import PAYLOAD


def test_convolutional_code_corrects_noise_and_crc_catches_errors() -> None:
    rng = np.random.default_rng(3)
    code = ConvCode((0o557, 0o663, 0o711), 9)
    info = rng.integers(0, 2, 80).astype(np.uint8)
    soft = 1.0 - 2.0 * code.encode(info) + rng.normal(0, 0.8, code.coded_length(80))
    decoded, _ = code.decode(soft, 80)
    assert np.array_equal(decoded, info)
    bits = bytes_to_bits(PAYLOAD)
    flipped = bits.copy()
    flipped[5] ^= 1
    assert not np.array_equal(crc16(bits), crc16(flipped))
    assert bits_to_bytes(bits) == PAYLOAD
    assert not np.array_equal(crc16(np.zeros(64, np.uint8)), np.zeros(16, np.uint8))


def test_list_viterbi_returns_the_best_codewords_in_order() -> None:
    """Against every codeword of a short code: the list holds the ``size`` codewords of
    highest correlation with the soft values, best first, and its first is Viterbi's."""
    import itertools

    rng = np.random.default_rng(1)
    code = ConvCode((0o133, 0o171, 0o165), 7)
    words = [np.array(b, np.uint8) for b in itertools.product((0, 1), repeat=8)]
    signs = np.array([1.0 - 2.0 * code.encode(b) for b in words])
    for _ in range(10):
        soft = rng.normal(size=code.coded_length(8))
        metrics = signs @ soft
        order = np.argsort(-metrics)[:12]
        listed = code.decode_list(soft, 8, 12)
        assert [m for _, m in listed] == pytest.approx(metrics[order].tolist())
        assert all(np.array_equal(b, words[i]) for (b, _), i in zip(listed, order, strict=True))
        assert np.array_equal(listed[0][0], code.decode(soft, 8)[0])
    # a code with 4 codewords has no fifth; a list of none is refused
    assert len(code.decode_list(rng.normal(size=code.coded_length(2)), 2, 8)) == 4
    with pytest.raises(ValueError, match="list size"):
        code.decode_list(soft, 8, 0)


def test_crcs_match_their_published_check_values() -> None:
    """The catalogued check value of each CRC: its register over the ASCII "123456789"."""
    check = bytes_to_bits(b"123456789")
    assert bits_to_bytes(crc16(check)).hex() == "29b1"  # CRC-16/CCITT-FALSE
    assert bits_to_bytes(crc24(check)).hex() == "21cf02"  # CRC-24/OpenPGP (RFC 4880)
    assert not np.array_equal(crc24(np.zeros(64, np.uint8)), np.zeros(24, np.uint8))
