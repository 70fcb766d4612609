"""Finding the mark's lattice (:mod:`synthmark.watermark.lattice`,
:mod:`~synthmark.watermark.tiled.sync`, :mod:`~synthmark.watermark.affine`).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from synthmark.attacks import get_attack
from synthmark.watermark import (
    WatermarkScheme,
)


def test_refinement_recovers_a_lattice_off_by_half_a_degree(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    """The keyed local search climbs back from a lattice the keyless search got slightly
    wrong (turned 0.55 degrees and scaled 0.8%) to the embedded one."""

    from synthmark.watermark.lattice import Lattice
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    sync = synthmark_scheme.sync
    rw, wt = synthmark_scheme.whitened(marked)

    def lattice(turn_deg: float, scale: float) -> Lattice:
        t = math.radians(math.degrees(math.atan2(1, 2)) + turn_deg)
        rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        return Lattice(basis=scale * d.step * math.sqrt(5.0) * rot, score=0.0)

    true = sync.align(rw, wt, lattice(0.0, 1.0))
    off = sync.align(rw, wt, lattice(0.55, 1.008))
    assert off.z < 0.85 * true.z
    found = sync.refine(rw, wt, off)
    assert found.z >= 0.95 * true.z
    # at 512 px the score is flat to within 1% around the truth in scale (7.8-7.9 from
    # -0.6% to +0.6% for this mark): the climb ends anywhere on that plateau
    assert abs(found.lattice.angle - true.lattice.angle) <= 0.3
    assert abs(found.lattice.period / true.lattice.period - 1.0) <= 0.007


def test_scan_finds_the_lattice_of_a_cropped_or_turned_mark(
    synthmark_scheme: WatermarkScheme, marked: Image.Image, photo: Image.Image
) -> None:
    """The keyed scan, on its own, finds the lattice of a marked image cropped to 80% of
    its side and shrunk (the decode-space period grows by 1 / 0.8), and of one turned."""

    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    scan = synthmark_scheme.sync.scan
    w, h = marked.size
    side = round(0.8 * min(w, h))
    left, top = (w - side) // 3, (h - side) // 2
    cropped = marked.crop((left, top, left + side, top + side)).resize(
        (round(0.75 * side),) * 2, Image.Resampling.BICUBIC
    )
    found = scan(*synthmark_scheme.whitened(cropped))
    expected = d.step * 5**0.5 * min(w, h) / side
    assert abs(found.lattice.period / expected - 1.0) < 2 * d.scan_step
    assert found.z >= synthmark_scheme.thresholds()["damaged_scan"]  # sync alone is 1e-6
    # a rotation by 3 degrees (same size, black corners): the angle family finds it
    turned = marked.rotate(3.0, resample=Image.Resampling.BICUBIC)
    found = scan(*synthmark_scheme.whitened(turned))
    assert found.z >= synthmark_scheme.thresholds()["damaged_scan"]  # sync alone is 1e-6
    nominal_angle = math.degrees(math.atan2(1, 2))
    # PIL turns counter-clockwise on screen, which is clockwise in image coordinates
    assert abs((found.lattice.angle - (nominal_angle - 3.0) + 45.0) % 90.0 - 45.0) < 0.3
    # the same scan of the unmarked original stays below the gate
    assert scan(*synthmark_scheme.whitened(photo)).z < d.scan_gate


def test_scan_finds_a_turned_mark_cropped_without_a_resize(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    """A mark turned by 5 degrees and cropped to 60% of its area (the compound chain's
    geometry) sits at 1.29 times the nominal period and 5 degrees off in decode space:
    neither scan family covers it, the crop periods of :func:`crop_periods` do."""

    from synthmark.watermark.tiled import TiledScheme
    from synthmark.watermark.tiled.sync import crop_periods

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    scan = synthmark_scheme.sync.scan
    image = get_attack("crop:0.6").apply(marked.rotate(5.0, resample=Image.Resampling.BICUBIC))
    short = min(image.size)
    periods = crop_periods(d, short)
    assert len(periods) == 3  # a crop of a 512, 768 or 1024 px image
    assert abs(periods[0] / (d.nominal_period * 512 / short) - 1.0) < 1e-9
    rw, wt = synthmark_scheme.whitened(image)
    threshold = synthmark_scheme.thresholds()["damaged_scan"]
    assert scan(rw, wt).z < d.scan_gate
    found = scan(rw, wt, periods=periods)
    assert found.z >= threshold  # sync alone is 1e-6
    assert abs(found.lattice.period / periods[0] - 1.0) < 2 * d.scan_step
    nominal_angle = math.degrees(math.atan2(1, 2))
    assert abs((found.lattice.angle - (nominal_angle - 5.0) + 45.0) % 90.0 - 45.0) < 0.3


def test_fine_lattice_scores_interpolate_the_spectrum_bilinearly() -> None:
    """The lattice scorer's bilinear reads (four gathers from a padded copy) match
    scipy's order-1 interpolation, with the vertical frequency wrapping around and the
    last column held, at random points and on both edges."""
    from scipy import ndimage

    from synthmark.watermark.lattice import LineScorer

    rng = np.random.default_rng(3)
    h, w = 48, 40
    q = rng.random((h, w // 2 + 1)).astype(np.float32)
    lines = np.array([[1, 0], [0, 1], [2, 1], [1, -2], [2, 0]])
    scorer = LineScorer(q, (h, w), lines)
    # |k| <= sqrt(5): from a period of 4.5 up every line is within half a cycle per pixel;
    # at 4, line (2, 0) falls on the last column (angle 0) or the Nyquist row (90 degrees)
    periods = np.concatenate([rng.uniform(4.5, 20.0, 60), [4.0, 4.0]])
    angles = np.concatenate([rng.uniform(-np.pi, np.pi, 60), [0.0, np.pi / 2]])
    y, x = scorer._coords(periods, angles)
    assert x.max() == pytest.approx(w / 2) and (np.floor(y) == h - 1).any()  # both edges
    # wrap vertically by stacking a copy of the first row; hold the last column
    padded = np.vstack([q, q[:1]]).astype(np.float64)
    expected = ndimage.map_coordinates(padded, [y.ravel(), x.ravel()], order=1, mode="nearest")
    expected = expected.reshape(y.shape).sum(axis=1) / (len(lines) * scorer.mean)
    np.testing.assert_allclose(scorer.fine(periods, angles), expected, rtol=1e-6)


def test_affine_search_recovers_the_basis_of_a_stretched_lattice(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:

    from synthmark.watermark.affine import affine_lattices, reduce_basis
    from synthmark.watermark.lattice import line_scorer
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    stretched = get_attack("aspect:0.8").apply(marked)  # 512 x 410: decode space x 1/0.8
    rw, _ = synthmark_scheme.whitened(stretched)
    lines = np.concatenate([synthmark_scheme.layout.sync, synthmark_scheme.layout.data])
    found = affine_lattices(line_scorer(rw, lines, d.search), d.affine)
    assert found
    scale = 512 / 410
    truth = scale * np.diag([1.0, 410 / 512]) @ (d.step * np.array([[2.0, -1.0], [1.0, 2.0]]))
    # the same lattice: truth^-1 basis is an integer matrix of determinant +-1
    m = np.linalg.solve(truth, found[0].basis)
    assert np.abs(m - np.rint(m)).max() < 0.01
    assert abs(abs(np.linalg.det(np.rint(m))) - 1) < 1e-9
    # Lagrange-Gauss reduction finds the short basis of a skewed one
    a, b = reduce_basis(np.array([1.0, 0.0]), np.array([7.0, 1.0]))
    assert {tuple(np.abs(a)), tuple(np.abs(b))} == {(1.0, 0.0), (0.0, 1.0)}
    assert math.isclose(abs(float(a[0] * b[1] - a[1] * b[0])), 1.0)


def test_line_scores_are_those_of_the_line_frequencies() -> None:
    """The scorer's fine and coarse scores are, bit for bit, the spectrum read at
    :func:`line_frequencies` (lines folded onto the half an rfft keeps, rows taken modulo
    the height): bilinearly from the padded copy, and at the nearest bin of its 3 x 3
    maximum. The scorer computes them with fewer array passes (a read spends 10 ms
    there), so the plain formula is the reference."""
    from synthmark.watermark.lattice import LineScorer, line_frequencies

    rng = np.random.default_rng(5)
    h, w = 64, 48
    q = rng.random((h, w // 2 + 1)).astype(np.float32)
    lines = np.array([[3, 1], [-2, 5], [4, -4], [6, 0], [0, 5], [-5, -3]])
    scorer = LineScorer(q, (h, w), lines)
    periods = np.concatenate([rng.uniform(13.0, 40.0, 200), [16.0, 20.0]])
    angles = np.concatenate([rng.uniform(-np.pi, np.pi, 200), [0.0, np.pi / 2]])
    fx, fy, _ = line_frequencies(lines, periods, angles)
    y, x = (fy * h) % h, fx * w
    assert (fy < 0).any() and (fy > 0).any()  # rows on both sides of zero wrap

    y0, x0 = np.floor(y), np.floor(x)
    ty, tx = y - y0, x - x0
    padded = np.zeros((h + 1, w // 2 + 2), np.float32)
    padded[:h, : w // 2 + 1] = q
    padded[h, : w // 2 + 1] = q[0]
    padded[:, -1] = padded[:, -2]
    iy, ix = y0.astype(np.intp) % h, x0.astype(np.intp)
    bilinear = (1 - ty) * ((1 - tx) * padded[iy, ix] + tx * padded[iy, ix + 1]) + ty * (
        (1 - tx) * padded[iy + 1, ix] + tx * padded[iy + 1, ix + 1]
    )
    norm = len(lines) * scorer.mean
    assert np.array_equal(scorer.fine(periods, angles), bilinear.sum(axis=1) / norm)
    near = scorer.q_max[np.rint(y).astype(np.intp) % h, np.rint(x).astype(np.intp)]
    assert np.array_equal(scorer.coarse(periods, angles), near.sum(axis=1) / norm)


def test_find_lattices_leaves_out_searched_candidates_under_min_score(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    """``min_score`` drops the searched candidates (rotation, period and log-polar)
    that score under it, never the nominal lattices, and keeps the rest as they were;
    ``min_nominal_score`` drops the nominal ones under it: the scheme aligns only those
    (``TileDesign.candidate_gate``, ``nominal_gate``)."""
    from synthmark.watermark.lattice import find_lattices, line_scorer, nominal_lattices
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    rw, _ = synthmark_scheme.whitened(photo)
    lines = np.concatenate([synthmark_scheme.layout.sync, synthmark_scheme.layout.data])
    periods = synthmark_scheme.sync.nominal_periods(photo.size)
    scorer = line_scorer(rw, lines, d.search)
    every = find_lattices(rw, lines, periods, d.search, scorer)
    n_nominal = len(periods) * len(d.search.nominal_angles)
    assert len(every) > n_nominal
    cut = sorted(lat.score for lat in every[n_nominal:])[len(every[n_nominal:]) // 2]
    kept = find_lattices(rw, lines, periods, d.search, scorer, min_score=cut)
    expected = every[:n_nominal] + [lat for lat in every[n_nominal:] if lat.score >= cut]
    assert [(lat.period, lat.angle) for lat in kept] == [
        (lat.period, lat.angle) for lat in expected
    ]
    only = find_lattices(rw, lines, periods, d.search, scorer, min_score=np.inf)
    assert [(lat.period, lat.angle) for lat in only] == [
        (lat.period, lat.angle) for lat in every[:n_nominal]
    ]
    # an unmarked photo's searched candidates stay under the scheme's gate
    assert max(lat.score for lat in every[n_nominal:]) < d.candidate_gate
    # the nominal ones have their own gate; read_back scores them the same way
    nominal = nominal_lattices(periods, d.search, scorer)
    assert [lat.score for lat in nominal] == [lat.score for lat in every[:n_nominal]]
    cut = float(np.median([lat.score for lat in nominal]))
    kept = find_lattices(rw, lines, periods, d.search, scorer, np.inf, min_nominal_score=cut)
    assert [lat.score for lat in kept] == [lat.score for lat in nominal if lat.score >= cut]


def test_line_correlator_is_irfft2_of_the_hermitian_half() -> None:
    """:class:`LineCorrelator` gives the very numbers of scipy's ``irfft2`` of the
    Hermitian half of planes holding half of each value at its line and half its
    conjugate at the opposite one (the sync correlation over every shift), unscaled, in
    single and double precision, on the scan's and the alignment's shift grids."""
    import scipy.fft as sfft

    from synthmark.watermark.tiled.sync import LineCorrelator

    rng = np.random.default_rng(7)
    pairs = {(int(a), int(b)) for a, b in rng.integers(-15, 16, (80, 2))} - {(0, 0)}
    lines = np.array(sorted(p for p in pairs if (-p[0], -p[1]) not in pairs or p > (0, 0)))
    for side, dtype in ((64, np.complex64), (64, np.complex128), (128, np.complex128)):
        values = np.exp(1j * rng.uniform(0, 2 * np.pi, (5, len(lines))))
        half = side // 2 + 1
        planes = np.zeros((5, side, half), dtype)
        for at, vals in ((lines % side, 0.5 * values), (-lines % side, np.conj(0.5 * values))):
            keep = at[:, 1] < half
            planes[:, at[keep, 0], at[keep, 1]] += vals[:, keep]
        expected = sfft.irfft2(planes, s=(side, side), axes=(1, 2))
        found = LineCorrelator(lines, side)(values, dtype)
        assert found.dtype == expected.dtype
        assert np.array_equal(found / side**2, expected)


def test_refine_many_climbs_the_grid_of_every_start_as_the_plain_search_does(
    synthmark_scheme: WatermarkScheme, marked: Image.Image
) -> None:
    """The local search scores its 7 x 7 grids of periods by angles with the rotated lines
    computed once per angle: it ends where a search scoring every grid point on its own
    ends, with the same scores, bit for bit."""
    from synthmark.watermark.lattice import line_scorer
    from synthmark.watermark.tiled import TiledScheme

    assert isinstance(synthmark_scheme, TiledScheme)
    d = synthmark_scheme.design
    layout = synthmark_scheme.layout
    rw, _ = synthmark_scheme.whitened(marked)
    scorer = line_scorer(rw, np.concatenate([layout.sync, layout.data]), d.search)
    rng = np.random.default_rng(11)
    starts_p = np.concatenate([[d.step * math.sqrt(5.0) * 1.01], rng.uniform(45.0, 200.0, 4)])
    starts_t = np.concatenate([[math.atan2(1, 2) + 0.004], rng.uniform(0.0, np.pi / 2, 4)])

    p, t = starts_p.copy(), starts_t.copy()
    best = scorer.fine(p, t)
    span_p, span_a = 0.012, math.radians(0.6)
    offsets = np.linspace(-1.0, 1.0, 7)
    dp, dt = (g.ravel() for g in np.meshgrid(offsets, offsets, indexing="ij"))
    rows = np.arange(len(p))
    for _ in range(3):
        pp = p[:, None] * (1.0 + span_p * dp[None, :])
        tt = t[:, None] + span_a * dt[None, :]
        scores = scorer.fine(pp.ravel(), tt.ravel()).reshape(pp.shape)
        i = np.argmax(scores, axis=1)
        better = scores[rows, i] > best
        p = np.where(better, pp[rows, i], p)
        t = np.where(better, tt[rows, i], t)
        best = np.where(better, scores[rows, i], best)
        span_p, span_a = span_p / 3.0, span_a / 3.0
    assert scorer.refine_many(starts_p, starts_t) == list(zip(p, t, best, strict=True))
    assert best[0] > scorer.fine(starts_p[:1], starts_t[:1])[0]  # the marked lattice climbs


def test_the_affine_autocorrelation_is_irfft2_of_the_power_row_by_row() -> None:
    """The affine search's autocorrelation, computed only for the rows asked (the gate
    reads a few), is bit for bit ``irfft2(|rfft2(plane)|^2)`` of the mean-free, mirrored
    spike spectrum, on a square and on an oblong decode space."""
    import scipy.fft as sfft

    from synthmark.watermark.affine import _Autocorrelation
    from synthmark.watermark.lattice import LatticeSearch, line_scorer

    rng = np.random.default_rng(13)
    lines = np.array([[11, 2], [-3, 12], [9, -8]])
    for shape in ((96, 96), (96, 130)):
        scorer = line_scorer(rng.standard_normal(shape).astype(np.float32), lines, LatticeSearch())
        h, w = shape
        q, half = scorer.q, scorer.q.shape[1]
        plane = np.zeros(shape, np.float32)
        plane[:, :half] = q
        plane[:, half:] = np.roll(q[::-1], 1, axis=0)[:, w - half : 0 : -1]
        np.subtract(plane, np.float32(scorer.mean), out=plane, where=plane > 0)
        spec = sfft.rfft2(plane)
        expected = sfft.irfft2(spec.real * spec.real + spec.imag * spec.imag, s=shape)
        acf = _Autocorrelation(scorer)
        assert np.array_equal(acf.plane, expected.astype(np.float64))
        some = np.array([0, 1, h - 1, 7])
        assert np.array_equal(acf.rows(some), expected[some].astype(np.float64))


def test_folds_with_a_threads_reused_buffers_equal_fresh_folds() -> None:
    """A :class:`Folder` drawing its arrays from a :class:`FoldBuffers` (reused read after
    read, shape after shape) folds exactly as one with arrays of its own, and threads
    sharing one ``FoldBuffers`` object each get their own arrays."""
    from concurrent.futures import ThreadPoolExecutor

    from synthmark.watermark.fold import FoldBuffers, Folder, fold

    rng = np.random.default_rng(17)
    images = [
        (rng.standard_normal(shape).astype(np.float32), rng.random(shape).astype(np.float32))
        for shape in ((64, 64), (64, 64), (48, 80), (64, 64))
    ]
    bases = [p * np.array([[1.0, -0.3], [0.3, 1.0]]) for p in (9.0, 13.5, 21.0)]
    expected = [[fold(rw, w, b, 16) for b in bases] for rw, w in images]
    buffers = FoldBuffers()

    def folds(i: int) -> list[NDArray]:
        rw, w = images[i % len(images)]
        folder = Folder(rw, w, 16, buffers)
        return [folder(b) for b in bases]

    for i in range(len(images)):  # one thread, buffers reused across shapes and residuals
        assert all(np.array_equal(a, b) for a, b in zip(folds(i), expected[i], strict=True))
    with ThreadPoolExecutor(4) as pool:
        for i, got in enumerate(pool.map(folds, range(16))):
            want = expected[i % len(images)]
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("sigma", [math.sqrt(0.5), 1.0, 3.0, 4.0])
def test_the_whitening_blur_is_a_reflected_gaussian(sigma: float) -> None:
    """The residual's blur (OpenCV's separable filter) is SciPy's sampled Gaussian with
    four sigmas of taps each side and reflected borders: no wrap-around from the opposite
    border, as the FFT blur it replaced had."""
    from scipy import ndimage

    from synthmark.watermark.whiten import blur

    a = np.random.default_rng(int(sigma * 10)).normal(0.0, 40.0, (96, 130)).astype(np.float32)
    a[:, :8] += 200.0  # a bright left border, which a circular blur would carry to the right
    got = blur(a, sigma)
    want = ndimage.gaussian_filter(a.astype(np.float64), sigma, truncate=4.0)
    assert got.dtype == np.float32 and got.shape == a.shape
    assert np.abs(got - want).max() < 1e-4 * np.abs(a).max()
