"""Screen many files: parallel workers, incremental JSON Lines output, and resume.

Records are appended to the output file one line at a time, flushed as they come, so an
interrupted run loses at most the line being written; ``resume`` drops such a torn last line
and skips every path already recorded. One bad file yields an error record; it never stops
the batch.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from synthmark.imaging import InputItem
from synthmark.jsonutil import dumps


class PathScreener(Protocol):
    """Anything that screens one file into a JSON-ready record."""

    def screen_path(self, path: str | os.PathLike[str]) -> dict[str, Any]: ...


ScreenerFactory = Callable[[], PathScreener]


@dataclass
class BatchSummary:
    """Counts of one batch run."""

    screened: int = 0
    skipped: int = 0
    errors: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)

    def count(self, record: dict[str, Any]) -> None:
        """Add one record to the counts."""
        if record.get("error"):
            self.errors += 1
        else:
            self.screened += 1
            verdict = str(record.get("verdict"))
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1


def plan(items: Iterable[InputItem], done: set[str], summary: BatchSummary
         ) -> tuple[list[str], list[dict[str, Any]]]:
    """Split inputs into paths to screen and error records for inputs that cannot be read,
    skipping paths in ``done`` (counted in ``summary.skipped``) and duplicates."""
    pending: list[str] = []
    early: list[dict[str, Any]] = []
    seen = set(done)
    for item in items:
        key = str(item.path)
        if key in seen:
            summary.skipped += key in done
            continue
        seen.add(key)
        if item.error is not None:
            early.append({"path": key, "error": item.error})
        else:
            pending.append(key)
    return pending, early


def recorded_paths(jsonl: Path) -> set[str]:
    """Paths already in a JSON Lines output; a torn last line (no newline) is cut off."""
    if not jsonl.exists():
        return set()
    raw = jsonl.read_bytes()
    if raw and not raw.endswith(b"\n"):
        keep = raw.rfind(b"\n") + 1
        with jsonl.open("r+b") as fh:
            fh.truncate(keep)
        raw = raw[:keep]
    done: set[str] = set()
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("path"), str):
            done.add(record["path"])
    return done


_WORKER: PathScreener | None = None


def _init_worker(factory: ScreenerFactory) -> None:
    global _WORKER  # one screener per worker process, built once (detector loaded once)
    _WORKER = factory()


def _screen_in_worker(path: str) -> dict[str, Any]:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return _WORKER.screen_path(path)


def _records(paths: list[str], factory: ScreenerFactory, workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1 or len(paths) <= 1:
        screener = factory()
        for path in paths:
            yield screener.screen_path(path)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(factory,)
    ) as pool:
        chunk = max(1, min(16, len(paths) // (workers * 4)))
        yield from pool.map(_screen_in_worker, paths, chunksize=chunk)


def run_batch(
    items: Iterable[InputItem],
    factory: ScreenerFactory,
    *,
    workers: int = 1,
    output: Path | None = None,
    resume: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Screen every item, in input order, writing records to ``output`` as they complete."""
    summary = BatchSummary()
    done = recorded_paths(output) if (resume and output is not None) else set()
    pending, early = plan(items, done, summary)
    sink: IO[str] | None = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        sink = output.open("a" if resume else "w", encoding="utf-8")
    try:
        for record in itertools.chain(early, _records(pending, factory, workers)):
            summary.count(record)
            if sink is not None:
                sink.write(dumps(record) + "\n")
                sink.flush()
            if on_record is not None:
                on_record(record)
    finally:
        if sink is not None:
            sink.close()
    return summary


__all__ = [
    "BatchSummary",
    "PathScreener",
    "ScreenerFactory",
    "plan",
    "recorded_paths",
    "run_batch",
]
