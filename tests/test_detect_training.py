"""synthmark.detect.training: the training plan behind ``detect train`` and its model card."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthmark.errors import UsageError
from tests.detect_images import tiny_detector, tiny_folders


def test_training_plan_fills_the_card_and_counts_copies(tmp_path: Path) -> None:
    from synthmark.detect.training import TrainingPlan, parse_licences, train

    real, fake = tiny_folders(tmp_path, 6)
    plan = TrainingPlan(
        real=[real],
        fake=[fake],
        detector=tiny_detector(),
        copies=2,
        licences=parse_licences(["real=CC0"]),
        name="tiny",
        command="synthmark detect train ...",
    )
    det = train(plan)
    assert det.training_summary_["n_images"] == 24  # two augmented copies of 12
    card = det.card
    assert card.name == "tiny" and "2 augmented copies" in card.augmentation
    assert {(d.name, d.n_images, d.licence) for d in card.training_data} == {
        ("real", 6, "CC0"),
        ("fake", 6, None),
    }
    with pytest.raises(UsageError, match="SOURCE=TEXT"):
        parse_licences(["no-equals-sign"])
