"""The :class:`Screener`: every layer of evidence for one image, and one verdict.

>>> screener = Screener(ScreenOptions(watermark_key=key, registry=reg))   # doctest: +SKIP
>>> screener.screen_path("upload.jpg")["verdict"]                         # doctest: +SKIP
'likely_synthetic'

Records are plain JSON-ready dicts (the same for the CLI, the service and batch backends):
``path``, ``verdict``, ``score``, ``reasons`` and a ``layers`` summary with each layer's
details (:mod:`synthmark.screen.details`), or ``path`` and ``error`` for a file that could
not be read. The detector is loaded lazily, once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthmark.errors import ImageTooSmall, ModelNotFound, OutsideDomain, SynthmarkError
from synthmark.imaging import ImageLimits
from synthmark.screen.details import add_details
from synthmark.screen.evidence import DetectorScore, collect
from synthmark.screen.gather import GatherOptions, Signals, gather
from synthmark.screen.verdict import decide

logger = logging.getLogger(__name__)


@dataclass
class ScreenOptions:
    """Keys, anchors, registry and detector settings for screening."""

    watermark_key: bytes | None = None
    #: retired watermark keys, tried after ``watermark_key``
    retired_keys: tuple[bytes, ...] = ()
    trust_anchors: bytes | None = None
    registry: Any = None
    detector: Any = None
    detector_path: str | None = None
    use_detector: bool = True
    limits: ImageLimits = field(default_factory=ImageLimits)

    def gather_options(self) -> GatherOptions:
        """What :func:`~synthmark.screen.gather.gather` reads with these keys, anchors,
        registry and limits (``synthmark inspect`` gathers without a verdict)."""
        return GatherOptions(
            watermark_key=self.watermark_key,
            retired_keys=self.retired_keys,
            trust_anchors=self.trust_anchors,
            registry=self.registry,
            limits=self.limits,
        )


def _layers(signals: Signals, score: DetectorScore | None) -> dict[str, Any]:
    labels = signals.labels
    layers: dict[str, Any] = {}
    if labels is not None:
        c2pa = labels.c2pa
        layers["c2pa"] = {
            "present": c2pa.present,
            "validation_state": c2pa.validation_state,
            "digital_source_types": list(c2pa.digital_source_types),
            "claim_generator": c2pa.claim_generator,
            "manifest_id": c2pa.manifest_id,
            "recovered": c2pa.recovered,
        }

        layers["xmp_digital_source_type"] = labels.xmp.digital_source_type
        layers["generator_metadata"] = [g.tool for g in labels.generators]
    layers["watermarks"] = {
        r.scheme: {
            "status": str(getattr(r.status, "value", r.status)),
            "payload": r.payload.hex() if r.payload else None,
            "p_value": r.p_value,
            "attribution": r.attribution,
        }
        for r in signals.watermarks
    }
    lookup = signals.registry
    if lookup is not None:
        layers["registry"] = {
            "exact": [r.serial for r in lookup.exact],
            "similar": [
                {"serial": m.record.serial, "distance": m.distance} for m in lookup.similar
            ],
        }
    if score is not None:
        layers["detector"] = {
            "probability": round(score.probability, 4),
            "threshold": round(score.threshold, 4),
            "model": score.model,
        }
    return layers


class Screener:
    """Screens images; build once, call :meth:`screen_bytes` or :meth:`screen_path` often."""

    def __init__(self, options: ScreenOptions) -> None:
        self.options = options
        self._detector = options.detector

    @property
    def detector(self) -> Any:
        """The detector, loaded on first use (the package default unless a path is given)."""
        if self._detector is None and self.options.use_detector:
            from synthmark.detect import load_detector

            self._detector = load_detector(self.options.detector_path)
        return self._detector

    def _score(self, signals: Signals) -> DetectorScore | None:
        if not self.options.use_detector or signals.image is None:
            return None
        detector = self.detector
        try:
            check = getattr(detector, "check_applicable", None)
            if check is not None:
                check(signals.image)
            probability = float(detector.predict_proba([signals.image])[0, 1])
        except (ImageTooSmall, OutsideDomain, ModelNotFound) as exc:  # the other layers count
            signals.errors.append(f"detector not run: {exc}")
            return None
        name = getattr(getattr(detector, "card", None), "name", None) or type(detector).__name__
        return DetectorScore(probability, float(detector.threshold_), str(name))

    def screen_bytes(self, data: bytes, name: str | os.PathLike[str]) -> dict[str, Any]:
        """Screen one file's bytes; never raises for a bad file (the record has ``error``)."""
        path = os.fspath(name)
        try:
            signals = gather(data, path, self.options.gather_options())
            if not signals.decoded:
                return {"path": path, "error": "; ".join(signals.errors) or "cannot decode"}
            score = self._score(signals)
        except SynthmarkError as exc:
            return {"path": path, "error": str(exc)}
        except Exception as exc:
            logger.exception("screening %s failed", path)
            return {"path": path, "error": f"internal error while screening "
                                           f"({type(exc).__name__}: {exc})"}
        verdict = decide(collect(signals, score))
        return {
            "path": path,
            "verdict": verdict.verdict.value,
            "score": verdict.score,
            "reasons": verdict.reasons,
            "format": signals.format,
            "width": signals.width,
            "height": signals.height,
            "layers": add_details(_layers(signals, score), signals),
            "notes": signals.loader_notes + signals.errors,
        }

    def screen_path(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """Screen one file; unreadable files give an error record."""
        name = os.fspath(path)
        limit = self.options.limits.max_bytes
        try:
            size = Path(name).stat().st_size
            if size > limit:
                return {"path": name, "error": f"{size:,} bytes, over the limit of {limit:,} bytes"}
            data = Path(name).read_bytes()
        except OSError as exc:
            return {"path": name, "error": f"cannot read ({exc.strerror})"}
        return self.screen_bytes(data, name)


__all__ = ["ScreenOptions", "Screener"]
