"""The model card: what a detector was trained on, how well it did, and where it must not be used.

A card travels inside the saved model (``detector.json``) and as ``MODEL_CARD.md`` beside
it. ``synthmark detect card [MODEL]`` prints it.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from typing import Any

INTENDED_USE = (
    "A second opinion on whether an image without provenance labels or watermark was made by "
    "a generative model. Use it to rank or triage images for a person to review, together "
    "with C2PA manifests, watermarks and registry matches, which outweigh it."
)

LIMITATIONS = (
    "A score is evidence, not proof: a real photo can be flagged and a generated image "
    "missed, and absence of a flag never proves a photo real.",
    "It was trained on a few thousand images from the sources in the table above; on a "
    "generator or camera it never saw it is much weaker than on those it knows (see the "
    "cross-source validation, where every source family was held out in turn).",
    "Content is confounded with the label in the training data (portraits of men among the "
    "real photos, generated faces, landscapes and art among the generated images); the "
    "model partly reads the subject, which is why real portraits are its most common false "
    "positives.",
    "Blank images, gradients, flat graphics and screenshots carry none of the texture it "
    "reads; screening and `detect predict` therefore refuse to score images that are mostly "
    "flat (synthmark.detect.preprocess.check_texture).",
    "The threshold was fixed on validation data at a stated false-positive rate, with whole "
    "sources held out; the rate on your photos differs with camera, processing and subject.",
    "Heavy re-compression, resizing or blur of a photo change its score (see the robustness rows).",
    "Not for decisions about people (moderation strikes, legal or journalistic claims) "
    "without human review.",
)


@dataclass
class DataSource:
    """One folder of training images."""

    name: str
    label: str
    n_images: int
    path: str = ""
    licence: str | None = None


@dataclass
class ModelCard:
    """Everything a user needs to judge a detector before trusting its score."""

    name: str = "synthmark detector"
    created: str = ""
    synthmark_version: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    classes: list[str] = field(default_factory=lambda: ["real", "generated"])
    extractor: str = ""
    extractor_description: str = ""
    head: str = ""
    preprocessing: str = ""
    augmentation: str = ""
    training_data: list[DataSource] = field(default_factory=list)
    training_command: str = ""
    training_seconds: float | None = None
    threshold: float = 0.5
    target_fpr: float = 0.05
    #: ``pooled``: the target FPR over all real validation photos; ``source``: on each source
    threshold_by: str = "pooled"
    validation: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    intended_use: str = INTENDED_USE
    limitations: list[str] = field(default_factory=lambda: list(LIMITATIONS))

    @classmethod
    def from_fit(
        cls,
        *,
        summary: dict[str, Any],
        **fields: Any,
    ) -> ModelCard:
        """A card for a detector just fitted: ``fields`` plus the training ``summary``
        (sources and their sizes, seconds), this synthmark's and its libraries' versions."""
        from synthmark import __version__

        return cls(
            synthmark_version=__version__,
            versions=library_versions(),
            training_data=[
                DataSource(name=k, label="?", n_images=v)
                for k, v in summary.get("sources", {}).items()
            ],
            training_seconds=summary.get("seconds"),
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        known = {f for f in cls.__dataclass_fields__}
        clean = {k: v for k, v in data.items() if k in known}
        clean["training_data"] = [DataSource(**d) for d in clean.get("training_data", [])]
        return cls(**clean)

    def to_markdown(self) -> str:
        """A human-readable card (``MODEL_CARD.md``)."""
        lines = [f"# Model card: {self.name}", ""]
        lines += [
            "## Intended use",
            "",
            self.intended_use,
            "",
            "## Output",
            "",
            f"`predict_proba` columns follow `classes_` = {self.classes}; column 1 is "
            "P(generated), calibrated on validation data.",
            f"Operating threshold on P(generated): **{self.threshold:.4f}**, chosen on "
            f"validation data for a false-positive rate of {self.target_fpr:.0%} on real "
            + (
                "photos of each training source (the highest of the per-source thresholds)"
                if self.threshold_by == "source"
                else "photos"
            )
            + ", and never retuned on test data.",
            "",
            "## How it works",
            "",
            f"- Preprocessing: {self.preprocessing}",
            f"- Features: `{self.extractor}`: {self.extractor_description}",
            f"- Head: `{self.head}`",
            f"- Training augmentation (both classes alike): {self.augmentation or 'none'}",
            "",
            "## Training data",
            "",
            "| source | label | images | licence |",
            "|---|---|---:|---|",
        ]
        for d in self.training_data:
            lines.append(f"| `{d.name}` | {d.label} | {d.n_images} | {d.licence or 'not stated'} |")
        if self.training_command:
            lines += ["", "Trained with:", "", "```", self.training_command, "```"]
        if self.training_seconds is not None:
            lines += ["", f"Training took {self.training_seconds / 60:.1f} min."]
        if self.validation:
            lines += ["", "## Validation (out-of-fold, training sources)", ""]
            if self.validation.get("method"):
                lines += [f"Method: {self.validation['method']}.", ""]
            lines += _metrics_table({"validation": self.validation})
            lines += _by_source_table(self.validation.get("by_source") or {}, self.threshold)
        if self.evaluation:
            lines += ["", "## Evaluation", ""]
            notes = self.evaluation.get("notes")
            if notes:
                lines += [str(notes), ""]
            tables = {k: v for k, v in self.evaluation.items() if isinstance(v, dict)}
            lines += _metrics_table(tables)
            extra = self.evaluation.get("extra")
            if isinstance(extra, list):
                lines += [""] + [f"- {e}" for e in extra]
        lines += ["", "## Limitations", ""] + [f"- {x}" for x in self.limitations]
        lines += ["", "## Versions", ""]
        lines += [f"- synthmark {self.synthmark_version}"] + [
            f"- {k} {v}" for k, v in sorted(self.versions.items())
        ]
        if self.created:
            lines += [f"- created {self.created}"]
        return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, dict) and {"value", "low", "high"} <= set(value):
        return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"
    return "-" if value is None else str(value)


_COLUMNS = (
    "auc",
    "balanced_accuracy",
    "tpr",
    "fpr",
    "tpr_at_5pct_fpr",
    "ece",
    "n_generated",
    "n_real",
)


def _metrics_table(rows: dict[str, Any]) -> list[str]:
    out = ["| set | " + " | ".join(_COLUMNS) + " |", "|---" * (len(_COLUMNS) + 1) + "|"]
    for name, m in rows.items():
        if not isinstance(m, dict) or "auc" not in m:
            continue
        cells = []
        for c in _COLUMNS:
            iv = (m.get("intervals") or {}).get(c)
            cells.append(_fmt(iv) if iv else _fmt(m.get(c)))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def _by_source_table(by_source: dict[str, Any], threshold: float) -> list[str]:
    if not by_source:
        return []
    out = [
        "",
        f"Share of each source flagged at the threshold {threshold:.4f} (generated: true "
        "positives; real: false positives):",
        "",
        "| source | label | images | flagged |",
        "|---|---|---:|---:|",
    ]
    for name, row in by_source.items():
        out.append(
            f"| `{name}` | {row.get('label')} | {row.get('n')} | {row.get('flagged', 0):.1%} |"
        )
    return out


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved detector depends on."""
    import numpy
    import PIL
    import sklearn

    versions = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "pillow": PIL.__version__,
    }
    try:
        import safetensors

        versions["safetensors"] = safetensors.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    return versions


__all__ = ["INTENDED_USE", "LIMITATIONS", "DataSource", "ModelCard", "library_versions"]
