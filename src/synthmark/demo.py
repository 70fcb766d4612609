"""The main job on built-in defaults (``make run``): generate, strip, screen, print.

1. generate a few images with the built-in ``tiny`` model (watermarked, labelled, signed,
   registered);
2. make a stripped, re-compressed copy of one (pixels only, JPEG q75, no metadata): the
   labels are gone, the watermark and the registry must still find it;
3. copy the real photos that ship with the package (public domain / CC0);
4. screen them all.

It needs nothing beyond the installed package.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from synthmark.imaging import atomic_write, expand_inputs
from synthmark.settings import Settings


@dataclass
class DemoResult:
    """Where the demo's files went, and the screening records."""

    folder: Path
    generated: list[Path] = field(default_factory=list)
    stripped: Path | None = None
    photos: list[Path] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


def strip_and_recompress(source: Path, target: Path, quality: int = 75) -> Path:
    """Pixels only: decode, then save as JPEG ``quality`` with no metadata at all."""
    with Image.open(source) as im:
        pixels = im.convert("RGB")
    buf = io.BytesIO()
    pixels.save(buf, format="JPEG", quality=quality)
    return atomic_write(target, buf.getvalue())


def run_demo(
    settings: Settings,
    folder: Path,
    *,
    count: int = 3,
    use_detector: bool = True,
    notify: Callable[[str], None] = lambda message: None,
) -> DemoResult:
    """Run the demo into ``folder`` (created; earlier demo files there are replaced)."""
    from synthmark.generate import GenerationRequest
    from synthmark.generate.assemble import build_generator
    from synthmark.samples import sample_photos
    from synthmark.screen.assemble import ScreenerSpec
    from synthmark.screen.batch import run_batch

    result = DemoResult(folder=folder)
    generated_dir, photos_dir = folder / "generated", folder / "photos"
    for sub in (generated_dir, photos_dir):
        if sub.exists():
            shutil.rmtree(sub)
        sub.mkdir(parents=True)
    notify(f"1/4 generating {count} images with the tiny model (noise-like test pictures)")
    generator = build_generator(settings, model="tiny", notify=notify)
    prompts = ["a lighthouse at dusk", "a bowl of ripe pears", "a city street in the rain"]
    requests = [
        GenerationRequest(prompts[i % len(prompts)], seed=i, steps=10, width=256, height=256)
        for i in range(count)
    ]
    try:
        result.generated = [r.path for r in generator.generate(requests, generated_dir)]
    finally:
        generator.labeller.close()
    notify("2/4 making a stripped, re-compressed copy (JPEG q75, no metadata)")
    result.stripped = strip_and_recompress(result.generated[0], generated_dir / "stripped-copy.jpg")
    notify("3/4 copying the bundled real photos (public domain / CC0)")
    for photo in sample_photos():
        target = photos_dir / photo.name
        shutil.copyfile(photo, target)
        result.photos.append(target)
    notify("4/4 screening everything")
    spec = ScreenerSpec.from_settings(settings, use_detector=use_detector)
    items = list(expand_inputs([generated_dir, photos_dir]))
    run_batch(items, spec, on_record=result.records.append)
    return result


__all__ = ["DemoResult", "run_demo", "strip_and_recompress"]
