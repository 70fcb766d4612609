"""The false-positive bound and the payload decoding (:mod:`synthmark.watermark.tiled.bound`
and :mod:`~synthmark.watermark.tiled.decode`).
"""

from __future__ import annotations

import math
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthmark.settings import Settings
from synthmark.watermark import (
    WatermarkScheme,
    WatermarkStatus,
    get_scheme,
)
from synthmark.watermark.keys import create_key, key_id, load_key
from tests.watermark_images import KEY, PAYLOAD, square


def test_phase_tail_bound_holds_and_beats_the_gaussian_form() -> None:
    from synthmark.watermark.tiled import phase_tail_bound

    rng = np.random.default_rng(0)
    sums = np.cos(rng.uniform(0, 2 * np.pi, (100_000, 16))).sum(axis=1)
    for c in (2.0, 5.0, 8.0, 10.0):
        bound = phase_tail_bound(c, 16)
        assert float(np.mean(sums >= c)) <= bound <= np.exp(-c * c / 16) + 1e-12
    assert phase_tail_bound(-1.0, 16) == 1.0
    assert phase_tail_bound(16.0, 16) == 0.0  # the sum of 16 cosines never exceeds 16


def test_phase_tail_bound_is_the_chernoff_minimum() -> None:
    from scipy.special import i0e

    from synthmark.watermark.tiled import phase_tail_bound

    t = np.linspace(1e-3, 60.0, 600_001)
    for n, c in ((64, 20.0), (64, 40.0), (64, 63.0), (16, 3.0)):
        grid_min = float(np.min(-t * c + n * (np.log(i0e(t)) + t)))
        assert math.log(phase_tail_bound(c, n)) == pytest.approx(grid_min, abs=1e-6)


def _faint(photo: Image.Image, marked: Image.Image, strength: float, seed: int) -> Image.Image:
    """``photo`` plus ``strength`` times the mark's change, dithered to 8 bits."""
    host = np.asarray(photo, np.float32)
    change = np.asarray(marked, np.float32) - host
    dither = np.random.default_rng(seed).uniform(0.0, 1.0, host.shape)
    faint = np.clip(np.floor(host + strength * change + dither), 0, 255)
    return Image.fromarray(faint.astype(np.uint8))


def test_a_faint_mark_reads_on_its_crc_alone(
    synthmark_scheme: WatermarkScheme, photo: Image.Image, plain_marked: Image.Image
) -> None:
    """A mark at 7.25% of its strength: its sync score is below what a 16-bit CRC would
    need, but a decode that passes the 24-bit CRC is vouched for by the CRC alone."""
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    marked = plain_marked
    readout = synthmark_scheme.extract(_faint(photo, marked, 0.0725, seed=0))
    assert readout.status is WatermarkStatus.PRESENT
    assert readout.payload == PAYLOAD
    stage = readout.details["stage"]
    limits16 = TiledScheme(KEY, replace(synthmark_scheme.design, crc_bits=16)).thresholds()
    needed = limits16["present" if stage == "candidates" else f"present_{stage}"]
    assert readout.details["sync_z"] < needed
    assert readout.p_value == pytest.approx(synthmark_scheme.max_decodes * 2.0**-24)
    assert readout.p_value <= synthmark_scheme.design.alpha


def test_list_decoding_reads_a_mark_whose_best_word_fails_the_crc(
    synthmark_scheme: WatermarkScheme, shared_data: Path
) -> None:
    """A mark at 9.75% of its strength (this photo and dither found by a sweep): the most
    likely word fails the CRC, one of the next four (list Viterbi) passes it and is the
    payload. Without the list the read finds nothing; with it the p-value counts the
    list's five words."""
    from synthmark.watermark.tiled import TileDesign, TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    photo = square(shared_data / "detector/real_unsplash_men/man_unsplash_00200.jpg")
    plain = TiledScheme(KEY, replace(TileDesign(), variants=False)).embed(photo, PAYLOAD)
    faint = _faint(photo, plain, 0.0975, seed=5)
    single = TiledScheme(KEY, replace(synthmark_scheme.design, list_size=1))
    assert single.extract(faint).status is not WatermarkStatus.PRESENT
    readout = synthmark_scheme.extract(faint)
    assert readout.status is WatermarkStatus.PRESENT
    assert readout.payload == PAYLOAD
    assert readout.details["list_decoded"] is True
    assert readout.details["sync_z"] >= synthmark_scheme.design.list_gate
    # each of the list's words may pass the CRC by chance: five times a single word's bound
    one_word = synthmark_scheme.bound.p_present(
        readout.details["sync_z"], readout.details["stage"]
    )
    assert readout.p_value == pytest.approx(5 * one_word, rel=1e-2)
    assert readout.p_value <= synthmark_scheme.design.alpha
    # four fewer words per read without the list
    assert single.max_decodes == synthmark_scheme.max_decodes - 4


def test_thresholds_follow_from_alpha(synthmark_scheme: WatermarkScheme) -> None:
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    bound = synthmark_scheme.bound
    limits = synthmark_scheme.thresholds()
    # A decode that passes the 24-bit CRC is evidence enough on its own: a read makes at
    # most max_decodes decodes, each of whose words is uniform on an unmarked image.
    assert d.crc_bits == 24
    assert synthmark_scheme.max_decodes * 2.0**-24 <= d.alpha
    assert limits["present"] == limits["present_refined"] == limits["present_scan"] == 0.0
    assert bound.p_present(0.0) == synthmark_scheme.max_decodes * 2.0**-24
    # From a high sync score on, the sync bound is the smaller one.
    high = bound.p_sync(5.0)
    assert bound.p_present(5.0) == pytest.approx(high * 2.0**-24, rel=1e-9)
    assert 3.0 < limits["damaged"] < 6.0
    assert bound.p_sync(limits["damaged"]) == pytest.approx(1e-6, rel=1e-3)
    # The three stages share alpha (weighted Bonferroni); the refined one counts its whole
    # grid for every candidate, the scan its grid for every scanned period, so each later
    # stage needs a higher score.
    assert limits["damaged"] < limits["damaged_refined"] < limits["damaged_scan"]
    for stage in ("refined", "scan"):
        p_stage = bound.p_sync(limits[f"damaged_{stage}"], stage)
        assert p_stage == pytest.approx(1e-6, rel=1e-3)
    first_share = 1.0 - d.refine_share - d.scan_share
    assert first_share > 0.5
    first = bound.p_sync(5.5)
    for stage, count, share in (
        ("refined", bound.n_refined_hypotheses, d.refine_share),
        ("scan", bound.n_scan_hypotheses, d.scan_share),
    ):
        ratio = count / bound.n_hypotheses
        later = bound.p_sync(5.5, stage)
        assert later == pytest.approx(first * ratio * first_share / share, rel=1e-9)
    # With a 16-bit CRC the sync score has to carry the rest of the evidence.
    short = TiledScheme(KEY, replace(d, crc_bits=16))
    limits16 = short.thresholds()
    assert 3.0 < limits16["present"] < limits16["damaged"] == limits["damaged"]
    assert limits16["present"] < limits16["present_refined"] < limits16["present_scan"]
    for stage in ("candidates", "refined", "scan"):
        suffix = "" if stage == "candidates" else f"_{stage}"
        p_at = short.bound.p_sync(limits16[f"present{suffix}"], stage) * 2.0**-16
        assert p_at == pytest.approx(1e-6, rel=1e-3)
    with pytest.raises(ValueError, match="crc_bits must be one of"):
        TiledScheme(KEY, replace(d, crc_bits=20))
    with pytest.raises(ValueError, match="unknown stage"):
        bound.p_sync(5.5, "everything")


def test_rotated_keys_still_read_and_the_bound_counts_every_key(
    tmp_path: Path, photo: Image.Image, plain_marked: Image.Image
) -> None:
    from synthmark.watermark import read_synthmark
    from synthmark.watermark.keys import RETIRED_DIR, retired_keys, rotate_key

    settings = Settings(home=tmp_path / "home")
    old = create_key(settings)
    new = rotate_key(settings)
    assert new != old and load_key(settings) == new
    retired_file = settings.keys_dir / RETIRED_DIR / f"{key_id(old)}.key"
    assert stat.S_IMODE(retired_file.stat().st_mode) == 0o600
    assert retired_keys(settings) == [old]
    marked = get_scheme("synthmark", key=old).embed(photo, PAYLOAD)
    assert not get_scheme("synthmark", key=new).extract(marked).present
    readout = read_synthmark(marked, new, retired_keys(settings))
    assert readout.present and readout.payload == PAYLOAD
    assert readout.details["key_id"] == key_id(old) and readout.details["keys_read"] == 2
    single = get_scheme("synthmark", key=old).extract(marked)
    assert readout.p_value == pytest.approx(2 * single.p_value)
    # a faint mark that one key vouches for on its CRC alone (16 x 2^-24 = 9.5e-7) is no
    # longer within 1e-6 when two keys were read
    faint = _faint(photo, plain_marked, 0.0725, seed=0)
    assert read_synthmark(faint, KEY).present
    doubled = read_synthmark(faint, KEY, [old])
    assert doubled.status is WatermarkStatus.DAMAGED and doubled.payload is None
    assert "joint false-positive bound" in doubled.details["note"]
    # the CLI: rotate, and read an old mark through the retired key
    env = {"SYNTHMARK_HOME": str(settings.home)}
    path = tmp_path / "old.png"
    marked.save(path)
    out = subprocess.run(
        [sys.executable, "-m", "synthmark", "watermark", "keygen", "--rotate", "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(retired_keys(settings)) == 2
    read = subprocess.run(
        [sys.executable, "-m", "synthmark", "watermark", "read", str(path), "--json"],
        capture_output=True, text=True, env={**os.environ, **env}, check=False,
    )
    assert read.returncode == 0, read.stderr
    assert '"status": "present"' in read.stdout and PAYLOAD.hex() in read.stdout


def test_the_scans_crop_periods_are_paid_for_in_the_bound(
    synthmark_scheme: WatermarkScheme,
) -> None:
    """Each crop side adds the rotation family's angles to the scan's hypotheses (so its
    ``damaged`` threshold rises), and a valid CRC alone still keeps a read within alpha."""
    from synthmark.watermark.tiled import TiledScheme
    from synthmark.watermark.tiled.sync import false_positive_bound, scan_lattices

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    without = false_positive_bound(replace(d, crop_sides=()))
    with_crops = synthmark_scheme.bound
    per_lattice = without.n_scan_hypotheses // (
        sum(len(p) for p, _ in scan_lattices(d))
        + d.affine.count
        + (d.scan_global + d.scan_sharp) * 9
    )
    n_angles = len(scan_lattices(d)[1][1])
    added = len(d.crop_sides) * n_angles * per_lattice
    assert with_crops.n_scan_hypotheses == without.n_scan_hypotheses + added
    assert with_crops.thresholds()["damaged_scan"] > without.thresholds()["damaged_scan"]
    assert with_crops.thresholds()["present_scan"] == 0.0
    assert with_crops.max_decodes * 2.0**-d.crc_bits <= d.alpha
