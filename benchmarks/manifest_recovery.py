"""Manifest recovery on stripped copies: durable Content Credentials, measured.

Run from the project root:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/manifest_recovery.py [--n 100] [--unmarked 300]

Labels N images of 512 x 512 (the watermark benchmark's images: centre squares of the shared
data set's real photos and Stable Diffusion images, same seed) with ``synthmark.label`` into
a temporary home and SQLite registry (``--registry URL`` for another). Then, for every attack
of the watermark benchmark (its targets and stretch goals), it takes the labelled file's
pixels, applies the attack and encodes the result without any metadata (PNG; the lossy
attacks re-encode inside), and reads the copy exactly as ``synthmark inspect`` does
(:func:`synthmark.screen.gather.gather`). It counts:

* **mark reads**: our watermark reads ``present`` with the labelled file's serial;
* **recovered**: among those, the copy's report carries the labelled file's manifest under
  ``c2pa`` with ``recovered: true`` and its signature validating; the target is >= 99%;
* **false recoveries**: unmarked images (every ``--unmarked`` file of the data set as is,
  cropped to half its area and resized by 0.75, as the watermark benchmark reads them) for
  which a manifest is recovered; the target is 0.

Prints one JSON object, with one row per attack.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image


def _copy(image: Image.Image) -> bytes:
    """The attacked pixels as a PNG without metadata: a stripped copy."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _read(data: bytes, options: Any) -> Any:
    from synthmark.screen.gather import gather

    return gather(data, "copy.png", options)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from synthmark.attacks import WATERMARK_STRETCH_ATTACKS, WATERMARK_TARGET_ATTACKS, get_attack
    from synthmark.eval.watermark_data import bench_images, unmarked_images
    from synthmark.labelling import GenerationInfo, label, open_labelling
    from synthmark.labels import init_local_ca, local_trust_anchor
    from synthmark.screen.gather import GatherOptions
    from synthmark.settings import Settings
    from synthmark.watermark.keys import create_key, load_key

    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    names = args.attacks.split(",") if args.attacks else [
        *WATERMARK_TARGET_ATTACKS, *WATERMARK_STRETCH_ATTACKS]
    attacks = [get_attack(a.strip()) for a in names if a.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home", registry_url=args.registry)
        init_local_ca(settings)
        create_key(settings)
        made = []
        with open_labelling(settings) as parts:
            for index, (_, image) in enumerate(bench_images(args.data, 512, args.n, 0)):
                made.append(label(image, GenerationInfo(model="benchmark", seed=index),
                                  root / f"{index:03d}.png", labelling=parts))
            say(f"labelled {len(made)} images")
            options = GatherOptions(watermark_key=load_key(settings),
                                    trust_anchors=local_trust_anchor(settings),
                                    registry=parts.registry)
            rows = []
            for attack in attacks:
                reads = recovered = 0
                t0 = time.perf_counter()
                for result in made:
                    pixels = Image.open(result.path).convert("RGB")
                    signals = _read(_copy(attack.apply(pixels)), options)
                    mark = next(w for w in signals.watermarks if w.scheme == "synthmark")
                    if not (mark.present and mark.payload == result.serial.to_bytes(8, "big")):
                        continue
                    reads += 1
                    c2pa = signals.labels.c2pa
                    recovered += bool(
                        c2pa.recovered and c2pa.manifest_id == result.manifest_id
                        and c2pa.signature_state in ("Valid", "Trusted")
                    )
                rows.append({"attack": attack.name, "images": len(made), "mark_reads": reads,
                             "recovered": recovered,
                             "recovered_share": round(recovered / reads, 4) if reads else None,
                             "seconds": round(time.perf_counter() - t0, 1)})
                say(json.dumps(rows[-1]))
            false = unmarked = 0
            for _, image in unmarked_images(args.data, args.unmarked):
                signals = _read(_copy(image), options)
                unmarked += 1
                false += bool(signals.labels.c2pa.recovered)
            say(f"{unmarked} unmarked reads, {false} recoveries")
    reads = sum(r["mark_reads"] for r in rows)
    recovered = sum(r["recovered"] for r in rows)
    return {
        "images": len(made),
        "size": "512x512",
        "attacks": rows,
        "total": {"mark_reads": reads, "recovered": recovered,
                  "recovered_share": round(recovered / reads, 4) if reads else None},
        "unmarked": {"reads": unmarked, "recovered": false},
        "registry": "postgresql" if args.registry else "sqlite",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--unmarked", type=int, default=300,
                        help="unmarked files read (x3 variants; 0: every file)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/detector"))
    parser.add_argument("--registry", default=None, help="a registry URL (default: SQLite)")
    parser.add_argument("--attacks", default="",
                        help="comma-separated attacks (default: the watermark benchmark's)")
    args = parser.parse_args(argv)
    args.unmarked = args.unmarked or None
    json.dump(run(args), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
