"""The watermark benchmark (:mod:`synthmark.eval.watermark_bench`) end to end.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from synthmark.watermark import (
    WatermarkScheme,
    get_scheme,
)
from tests.watermark_images import KEY, PAYLOAD


def test_benchmark_runs_end_to_end(shared_data: Path) -> None:
    from synthmark.eval.watermark_bench import BenchConfig, run_benchmark
    from synthmark.eval.watermark_calibration import calibrate_public_marks, format_calibration
    from synthmark.eval.watermark_tables import format_markdown

    config = BenchConfig(
        data_dir=shared_data / "detector",
        schemes=["synthmark", "dwtDct"],
        attacks=["none", "jpeg:50"],
        sizes=[512],
        n_images=2,
        unmarked_limit=2,
        timing_2048=0,
    )
    result = run_benchmark(config)
    assert {(r.scheme, r.attack) for r in result.rows} == {
        (s, a) for s in ("synthmark", "dwtDct") for a in ("none", "jpeg:50")
    }
    ours = next(s for s in result.summaries if s.scheme == "synthmark")
    assert ours.n == 2 and ours.unmarked_reads == 6 and ours.false_positives == 0
    assert ours.psnr_min >= 40.0 and ours.wrong_key_positives == 0
    # three quarters of the change go to the centre half, so its own PSNR is lower
    assert ours.centre_psnr_min <= ours.centre_psnr_mean < ours.psnr_mean
    table = format_markdown(result)
    assert "| jpeg:50 |" in table and "| synthmark | 512 | 2 | 64 |" in table
    assert "centre-half PSNR mean (min)" in table
    cal = calibrate_public_marks(shared_data / "detector", limit=2, n_marked=1)
    assert set(cal) == {"sd1", "sd2", "sdxl"} and cal["sd1"]["unmarked_reads"] > 0
    assert "| sdxl | 48 | 41 |" in format_calibration(cal)


def test_benchmark_times_reads_of_marked_and_unmarked_images(shared_data: Path) -> None:
    """An unmarked image runs every stage of the decoder, so its read is timed too."""
    from synthmark.eval.watermark_bench import BenchConfig, BenchResult, _timing_2048
    from synthmark.eval.watermark_tables import format_markdown

    config = BenchConfig(data_dir=shared_data / "detector", schemes=["synthmark"], timing_2048=1)
    timing = _timing_2048(config, KEY, lambda _: None)
    assert set(timing) == {"512", "2048"}
    for size in timing.values():
        assert set(size) == {"embed_ms", "read_ms", "read_unmarked_ms"}
        assert all(ms > 0 for ms in size.values())
    text = format_markdown(BenchResult([], [], timing, {"timing_images": 1}))
    unmarked_512 = f"{timing['512']['read_unmarked_ms']:.0f} ms (target <= 50)"
    assert "the marked image / the unmarked original" in text and unmarked_512 in text


def test_benchmark_marks_images_as_generate_delivers_them(
    synthmark_scheme: WatermarkScheme, photo: Image.Image
) -> None:
    from synthmark.eval.watermark_bench import _as_shipped

    marked = synthmark_scheme.embed(photo, PAYLOAD)
    assert _as_shipped(synthmark_scheme, photo, PAYLOAD, marked) == (marked, False)
    # a first embedding that does not read back is replaced by the fallback's, as in generate
    shipped, fell_back = _as_shipped(synthmark_scheme, photo, PAYLOAD, photo)
    assert fell_back and shipped is not photo
    assert synthmark_scheme.extract(shipped).payload == PAYLOAD
    # a scheme without fallbacks keeps what it made, and so does one whose fallbacks fail
    dwt = get_scheme("dwtDct")
    assert _as_shipped(dwt, photo, b"", photo) == (photo, False)
    flat = Image.new("RGB", (512, 512), "white")
    assert _as_shipped(synthmark_scheme, flat, PAYLOAD, flat) == (flat, False)
