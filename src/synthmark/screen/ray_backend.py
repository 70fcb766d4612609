"""Batch screening on Ray Data (the ``ray`` extra), for backlogs of millions of images.

Paths go into a Ray dataset; ``map_batches`` runs them through a pool of actors, each of
which builds one :class:`~synthmark.screen.screener.Screener` (so the detector loads once per
actor) and screens its batch. The driver streams the results into the same JSON Lines file
the local backend writes, flushing every record, then writes a Parquet copy.

Resuming is the local backend's: paths already in the JSON Lines file are skipped, and a torn
last line is dropped, so a killed job rerun finishes with every file exactly once.

``ray.init()`` starts a one-machine cluster by default; set ``RAY_ADDRESS`` (or pass
``address``) to join an existing cluster, whose workers must see the same paths.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from synthmark.errors import SynthmarkError
from synthmark.imaging import InputItem
from synthmark.jsonutil import dumps
from synthmark.screen.assemble import ScreenerSpec
from synthmark.screen.batch import BatchSummary, plan, recorded_paths
from synthmark.screen.record import RecordLike, ScreenRecord, record_json


class _ScreenActor:
    """One Ray actor: builds its screener once, screens batches of paths."""

    def __init__(self, spec: ScreenerSpec) -> None:
        self.screener = spec()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        paths = [str(p) for p in batch["path"]]
        records = []
        for path in paths:
            try:
                record: RecordLike = self.screener.screen_path(path)
            except Exception as exc:
                record = ScreenRecord.failed(path, f"screening failed: {exc}")
            records.append(dumps(record_json(record)))
        return {"path": paths, "record": records}


def write_parquet(jsonl: Path, target: Path) -> Path:
    """A Parquet copy of a JSON Lines output (nested fields kept as JSON text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        rows.append(
            {
                "path": record.get("path"),
                "verdict": record.get("verdict"),
                "score": record.get("score"),
                "reasons": record.get("reasons"),
                "error": record.get("error"),
                "record": line,
            }
        )
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("verdict", pa.string()),
            ("score", pa.float64()),
            ("reasons", pa.list_(pa.string())),
            ("error", pa.string()),
            ("record", pa.string()),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target


def run_ray(
    items: list[InputItem],
    spec: ScreenerSpec,
    *,
    output: Path,
    console: Any = None,
    batch_size: int = 16,
    actors: int | None = None,
    address: str | None = None,
) -> BatchSummary:
    """Screen ``items`` on Ray, appending to ``output`` (JSON Lines) and writing a Parquet copy."""
    try:
        import ray
    except ImportError:
        raise SynthmarkError(
            "--backend ray needs the 'ray' extra: pip install 'synthmark[ray]'"
        ) from None
    summary = BatchSummary()
    pending, early = plan(items, recorded_paths(output), summary)
    output.parent.mkdir(parents=True, exist_ok=True)

    def account(record_line: str, sink: Any) -> None:
        summary.count(json.loads(record_line))
        sink.write(record_line + "\n")
        sink.flush()

    with output.open("a", encoding="utf-8") as sink:
        for record in early:
            account(dumps(record_json(record)), sink)
        if pending:
            started_here = not ray.is_initialized()
            if started_here:
                ray.init(
                    address=address or os.environ.get("RAY_ADDRESS"),
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            try:
                import logging

                context = ray.data.DataContext.get_current()
                context.enable_progress_bars = False
                logging.getLogger("ray.data").setLevel(logging.WARNING)
                cpus = int(ray.available_resources().get("CPU", 1)) or 1
                pool = actors or max(1, min(cpus, len(pending) // batch_size or 1))
                dataset = ray.data.from_items([{"path": p} for p in pending])
                results = dataset.map_batches(
                    _ScreenActor,
                    fn_constructor_args=(spec,),
                    batch_size=batch_size,
                    compute=ray.data.ActorPoolStrategy(size=pool),
                    num_cpus=1,
                    batch_format="numpy",
                )
                for row in results.iter_rows():
                    account(str(row["record"]), sink)
            finally:
                if started_here:
                    ray.shutdown()
    write_parquet(output, output.with_suffix(".parquet"))
    if console is not None:
        console.print(f"Parquet copy: {output.with_suffix('.parquet')}")
    return summary


__all__ = ["run_ray", "write_parquet"]
