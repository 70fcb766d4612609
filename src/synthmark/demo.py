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
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from synthmark.errors import SynthmarkError, UsageError
from synthmark.imaging import atomic_write, expand_inputs
from synthmark.settings import Settings

#: Lists, one per line, the files the last demo wrote into ``generated/`` and ``photos/``:
#: only those are ever deleted by the next run.
MANIFEST = ".synthmark-demo"
#: What the demo's generator names its images (``synthmark-<serial>[-n].png``).
_DEMO_IMAGE = re.compile(r"generated/synthmark-\d+(-\d+)?\.png")


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


def _clear_earlier_demo(folder: Path, subfolders: tuple[Path, ...]) -> None:
    """Delete what the last demo wrote into ``subfolders``; refuse if anything else is there."""
    from synthmark.samples import sample_photos

    manifest = folder / MANIFEST
    ours = set(manifest.read_text(encoding="utf-8").split()) if manifest.is_file() else set()
    # Demos from before the manifest existed: their files have these names.
    ours |= {f"photos/{p.name}" for p in sample_photos()} | {"generated/stripped-copy.jpg"}
    found = [p for sub in subfolders if sub.is_dir() for p in sorted(sub.rglob("*"))]
    foreign = [
        p
        for p in found
        if p.is_file()
        and p.relative_to(folder).as_posix() not in ours
        and not _DEMO_IMAGE.fullmatch(p.relative_to(folder).as_posix())
    ]
    foreign += [p for sub in subfolders if sub.exists() and not sub.is_dir() for p in [sub]]
    if foreign:
        names = ", ".join(str(p) for p in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        raise UsageError(
            f"{folder} already holds files the demo did not write ({names}); the demo "
            "replaces its generated/ and photos/ folders, so choose an empty folder with "
            "-o or move those files"
        )
    for sub in subfolders:
        if sub.is_dir():
            shutil.rmtree(sub)
        sub.mkdir(parents=True)


def run_demo(
    settings: Settings,
    folder: Path,
    *,
    count: int = 3,
    use_detector: bool = True,
    notify: Callable[[str], None] = lambda message: None,
) -> DemoResult:
    """Run the demo into ``folder`` (created; earlier demo files there are replaced).

    Raises:
        UsageError: ``folder/generated`` or ``folder/photos`` holds files an earlier demo
            did not write (nothing is deleted then).
    """
    from synthmark.generate import GenerationRequest
    from synthmark.generate.assemble import build_generator
    from synthmark.samples import sample_photos
    from synthmark.screen.assemble import ScreenerSpec
    from synthmark.screen.batch import run_batch
    from synthmark.screen.record import record_json

    result = DemoResult(folder=folder)
    generated_dir, photos_dir = folder / "generated", folder / "photos"
    _clear_earlier_demo(folder, (generated_dir, photos_dir))
    notify(f"1/4 generating {count} images with the tiny model (noise-like test pictures)")
    generator = build_generator(settings, model="tiny", notify=notify)
    prompts = ["a lighthouse at dusk", "a bowl of ripe pears", "a city street in the rain"]
    refused: list[str] = []

    def refuse(request: GenerationRequest, exc: Exception) -> None:
        # A picture whose mark does not read back is never written (about 1 in 200 of these
        # small noise-like ones): say so and draw another seed, so the demo still shows count.
        refused.append(str(exc))
        notify(f"   seed {request.seed} refused ({exc}); trying another seed")

    seed = 0
    try:
        while len(result.generated) < count and seed < 3 * count:
            wanted = count - len(result.generated)
            requests = [
                GenerationRequest(
                    prompts[i % len(prompts)], seed=i, steps=10, width=256, height=256
                )
                for i in range(seed, seed + wanted)
            ]
            seed += wanted
            made = generator.generate(requests, generated_dir, on_error=refuse)
            result.generated += [r.path for r in made]
    finally:
        generator.labeller.close()
    if len(result.generated) < count:
        raise SynthmarkError(
            f"the demo could make only {len(result.generated)} of {count} marked images: "
            + "; ".join(refused[:3])
        )
    notify("2/4 making a stripped, re-compressed copy (JPEG q75, no metadata)")
    result.stripped = strip_and_recompress(result.generated[0], generated_dir / "stripped-copy.jpg")
    notify("3/4 copying the bundled real photos (public domain / CC0)")
    for photo in sample_photos():
        target = photos_dir / photo.name
        shutil.copyfile(photo, target)
        result.photos.append(target)
    written = [*result.generated, result.stripped, *result.photos]
    atomic_write(
        folder / MANIFEST,
        "".join(f"{p.relative_to(folder).as_posix()}\n" for p in written if p).encode(),
    )
    notify("4/4 screening everything")
    spec = ScreenerSpec.from_settings(settings, use_detector=use_detector)
    items = list(expand_inputs([generated_dir, photos_dir]))
    run_batch(items, spec, on_record=lambda record: result.records.append(record_json(record)))
    return result


__all__ = ["DemoResult", "run_demo", "strip_and_recompress"]
