"""Where a labelling batch writes each file (``synthmark.labelling.source.plan_outputs``)."""

from __future__ import annotations

from pathlib import Path

from synthmark.labelling.source import PlannedFile, plan_outputs
from tests import hostile


def test_files_from_a_folder_keep_their_sub_folder_and_missing_ones_say_why(
    tmp_path: Path,
) -> None:
    src = tmp_path / "renders"
    (src / "day2").mkdir(parents=True)
    png = hostile.png_bytes(hostile.photo_like((64, 64)))
    hostile.write(src / "a.png", png)
    hostile.write(src / "day2" / "b.png", png)
    single = hostile.write(tmp_path / "c.png", png)
    out = tmp_path / "out"
    plan = plan_outputs([str(src), str(single), str(tmp_path / "gone.png")], out)
    assert plan[:3] == [
        PlannedFile(src / "a.png", out),
        PlannedFile(src / "day2" / "b.png", out / "day2"),
        PlannedFile(single, out),
    ]
    assert plan[3].path == tmp_path / "gone.png" and plan[3].error
