"""Screen many files: parallel workers, incremental JSON Lines output, and resume.

Records are appended to the output file one line at a time, flushed as they come, so an
interrupted run loses at most the line being written; such a torn last line is dropped before
appending, and ``resume`` skips every path already recorded (as typed, or as the same absolute
path). The output is never truncated, and a file that is not JSON Lines (an image passed to
``-o`` by mistake) is refused before anything is screened. One bad file yields an error
record; it never stops the batch.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from synthmark.choices import VerdictLabel
from synthmark.errors import UsageError
from synthmark.imaging import InputItem
from synthmark.screen.export import jsonl_line
from synthmark.screen.record import RecordLike, ScreenRecord, record_json


class PathScreener(Protocol):
    """Anything that screens one file into a record (a :class:`ScreenRecord`, or a record's
    JSON object)."""

    def screen_path(self, path: str | os.PathLike[str]) -> RecordLike: ...


ScreenerFactory = Callable[[], PathScreener]


@dataclass
class BatchSummary:
    """Counts of one batch run."""

    screened: int = 0
    skipped: int = 0
    errors: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    #: Verdicts of the skipped inputs, from the records already in the output (``resume``).
    recorded_verdicts: dict[str, int] = field(default_factory=dict)

    def count(self, record: RecordLike) -> None:
        """Add one record to the counts."""
        record = record_json(record)
        if record.get("error"):
            self.errors += 1
        else:
            self.screened += 1
            verdict = str(record.get("verdict"))
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1

    def all_verdicts(self) -> dict[str, int]:
        """Verdicts screened now plus those of the skipped, already recorded inputs."""
        merged = dict(self.recorded_verdicts)
        for verdict, n in self.verdicts.items():
            merged[verdict] = merged.get(verdict, 0) + n
        return merged

    def reached(self, bar: VerdictLabel) -> bool:
        """Whether any input, screened now or already recorded, got ``bar`` or a stronger
        verdict (``--fail-on``); a recorded verdict this version does not know never does."""
        ranks = {label.value: label.rank for label in VerdictLabel}
        return any(n and ranks.get(v, -1) >= bar.rank for v, n in self.all_verdicts().items())

    def describe(self) -> str:
        """One line for people: ``3 screened (1 synthetic, 2 no_evidence), 0 unreadable, ...``."""
        counts = ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items()))
        return (
            f"{self.screened} screened ({counts or 'none'}), {self.errors} unreadable, "
            f"{self.skipped} skipped"
        )


def plan(
    items: Iterable[InputItem], done: Mapping[str, str | None], summary: BatchSummary
) -> tuple[list[str], list[ScreenRecord]]:
    """Split inputs into paths to screen and error records for inputs that cannot be read,
    skipping duplicates and paths in ``done`` (as returned by :func:`recorded_paths`: keyed
    by absolute path); those are counted in ``summary.skipped`` and their recorded verdicts in
    ``summary.recorded_verdicts``."""
    pending: list[str] = []
    early: list[ScreenRecord] = []
    seen = set(done)
    for item in items:
        key = str(item.path)
        absolute = os.path.abspath(key)
        if absolute in seen:
            if absolute in done:
                summary.skipped += 1
                verdict = done[absolute]
                if verdict is not None:
                    recorded = summary.recorded_verdicts
                    recorded[verdict] = recorded.get(verdict, 0) + 1
            continue
        seen.add(absolute)
        if item.error is not None:
            early.append(ScreenRecord.failed(key, item.error))
        else:
            pending.append(key)
    return pending, early


def check_inputs(items: list[InputItem], paths: list[str]) -> None:
    """A named file that does not exist, a pattern that matches nothing, or no image at all
    is a usage error, before anything is screened: a CI gate must not pass on a typo."""
    missing = [f"{item.path}: {item.error}" for item in items if item.error is not None]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise UsageError("; ".join(missing[:3]) + more)
    if not items:
        raise UsageError(f"no image files in {', '.join(paths) or 'the input'}")


def check_output(jsonl: Path) -> None:
    """Refuse an output that records cannot be appended to: a folder, or an existing file
    whose first line is not a JSON object (an image or other data given to ``-o``)."""
    if jsonl.is_dir():
        raise UsageError(f"{jsonl}: is a folder; --output needs a JSON Lines file")
    if not jsonl.exists():
        return
    try:
        with jsonl.open("rb") as fh:
            first = fh.readline(1 << 20)
    except OSError as exc:
        raise UsageError(f"{jsonl}: cannot read the output file ({exc.strerror})") from None
    if not first.strip():
        return
    if not first.endswith(b"\n") and first.lstrip().startswith(b"{"):
        return  # the only line, torn by a crash: dropped before appending
    try:
        record = json.loads(first)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        record = None
    if not isinstance(record, dict):
        raise UsageError(
            f"{jsonl}: exists and is not a JSON Lines file of records (its first line is not a "
            "JSON object); records are appended to --output, never overwritten: choose "
            "another file name"
        )


def recorded_paths(jsonl: Path) -> dict[str, str | None]:
    """Paths already in a JSON Lines output, by absolute path (``os.path.abspath``), each
    with its verdict (``None`` for an error record); a torn last line (no newline) is cut off.
    """
    if not jsonl.exists():
        return {}
    raw = jsonl.read_bytes()
    if raw and not raw.endswith(b"\n"):
        keep = raw.rfind(b"\n") + 1
        with jsonl.open("r+b") as fh:
            fh.truncate(keep)
        raw = raw[:keep]
    done: dict[str, str | None] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("path"), str):
            verdict = record.get("verdict")
            done[os.path.abspath(record["path"])] = (
                str(verdict) if verdict is not None and not record.get("error") else None
            )
    return done


#: Files per worker process below which ``workers="auto"`` starts fewer processes: starting
#: one (spawn, imports, detector load) costs about as much as screening this many files.
FILES_PER_WORKER = 12


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int | str, n_files: int) -> int:
    """The number of worker processes for ``n_files``: ``workers`` itself, or for ``"auto"``
    one per core, but no more than one per :data:`FILES_PER_WORKER` files (at least one).

    Raises:
        UsageError: ``workers`` is neither ``"auto"`` nor a whole number of at least 1.
    """
    if isinstance(workers, str) and workers.strip().lower() == "auto":
        return max(1, min(available_cores(), n_files // FILES_PER_WORKER))
    try:
        count = int(workers)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(
            f"--workers must be 'auto' or a whole number of at least 1, got {workers!r}"
        )
    return count


_WORKER: PathScreener | None = None
#: Thread pools that would otherwise start one thread per core in every worker process.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _init_worker(factory: ScreenerFactory) -> None:
    global _WORKER  # one screener per worker process, built once (detector loaded once)
    # Ctrl-C reaches every process of the terminal's group: the parent alone handles it (and
    # stops the workers), so that the workers do not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Each worker process is one of several: torch's own pool of one thread per core would
    # fight the other workers for the same cores (a 320 px tile took 1.4 s against 38 ms).
    for name in _THREAD_VARIABLES:
        os.environ[name] = "1"
    _WORKER = factory()
    if "torch" in sys.modules:  # the factory loaded the detector
        sys.modules["torch"].set_num_threads(1)


def _screen_in_worker(path: str) -> RecordLike:
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    return _WORKER.screen_path(path)


def _records(
    paths: list[str], factory: ScreenerFactory, workers: int
) -> Generator[RecordLike, None, None]:
    if workers <= 1 or len(paths) <= 1:
        screener = factory()
        for path in paths:
            yield screener.screen_path(path)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(factory,)
    )
    try:
        # Small chunks: records stream out (and Ctrl-C loses little work) at a cost of one
        # message per few files, small beside screening one.
        chunk = max(1, min(4, len(paths) // (workers * 4)))
        yield from pool.map(_screen_in_worker, paths, chunksize=chunk)
    except BaseException:  # Ctrl-C, or the consumer stopped: do not wait for the queue
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what is queued and end the worker processes now, not after their work."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    # Before 3.14 the pool has no public way to end its processes; shutdown() forgets them.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=2)
        if process.is_alive():  # a worker still starting up on a loaded machine: SIGKILL
            process.kill()
            process.join(timeout=5)


def interrupted_hint(done: int, total: int, output: Path | None) -> str:
    """What to say after Ctrl-C: how far a batch got, and how to go on from there."""
    where = (
        f"their records are in {output}; rerun the same command with --resume to screen "
        "only the rest"
        if output is not None
        else "give -o FILE to keep the records, and --resume to go on from where a run stopped"
    )
    return f"Interrupted after {done} of {total} file(s): {where}."


def run_batch(
    items: Iterable[InputItem],
    factory: ScreenerFactory,
    *,
    workers: int = 1,
    output: Path | None = None,
    resume: bool = False,
    on_record: Callable[[RecordLike], None] | None = None,
) -> BatchSummary:
    """Screen every item, in input order, appending records to ``output`` as they complete.

    Raises:
        UsageError: ``output`` exists and is not a JSON Lines file (see :func:`check_output`).
    """
    summary = BatchSummary()
    done: dict[str, str | None] = {}
    if output is not None:
        check_output(output)
        recorded = recorded_paths(output)  # also cuts a torn last line before appending
        if resume:
            done = recorded
    pending, early = plan(items, done, summary)
    sink: IO[str] | None = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        sink = output.open("a", encoding="utf-8")
    screened = _records(pending, factory, workers)
    try:
        for record in itertools.chain(early, screened):
            summary.count(record)
            if sink is not None:
                sink.write(jsonl_line(record))
                sink.flush()
            if on_record is not None:
                on_record(record)
    finally:
        screened.close()  # on Ctrl-C: stops the worker processes now
        if sink is not None:
            sink.close()
    return summary


__all__ = [
    "FILES_PER_WORKER",
    "BatchSummary",
    "PathScreener",
    "ScreenerFactory",
    "available_cores",
    "check_inputs",
    "check_output",
    "interrupted_hint",
    "plan",
    "recorded_paths",
    "resolve_workers",
    "run_batch",
]
