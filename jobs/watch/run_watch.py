"""Everything a run tells the outside while it runs, fed from one place: each writer
report and each unit commit go to the progress display, the timeline and the Ray
metrics; the stall guard watches the engines' board and the writer's reports."""

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator, TextIO

import ray

from jobs.watch.metrics import JobMetrics
from jobs.watch.progress import Progress, RunStart
from jobs.watch.stall_guard import StallGuard, StallLimits
from jobs.watch.timeline import Timeline, UnitTiming
from jobs.spec import JobSpec
from jobs.storage.committed_unit import CommittedUnit
from operators.engine_progress import BOARD_NAME, EngineBoard, EngineSnapshot
from operators.written_file import WrittenFile


class RunWatch:
    def __init__(self, spec: JobSpec, start: RunStart, terminal: TextIO, display: str):
        """`display`: "bar", "lines", "notebook", or "auto" (a bar on a terminal, else lines)."""
        if display == "auto":
            display = "bar" if _isatty(terminal) else "lines"
        self.spec = spec
        self.began = time.monotonic()
        self.began_wall = time.time()
        self.timeline = Timeline(run_id=start.run_id, started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.progress = Progress(start, terminal, display)
        self.metrics: JobMetrics | None = None
        self.guard: StallGuard | None = None
        self.attempts_seen: dict[int, int] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    @contextmanager
    def flow(self, unit_names: dict[str, str]) -> Iterator[None]:
        """While a flow runs (Ray connected): the engines' board, the guard, the metrics.
        `unit_names`: each running unit's key and how a user finds it (a stall names it)."""
        board = ray.remote(EngineBoard).options(name=BOARD_NAME, num_cpus=0, max_restarts=0).remote()
        model = self.spec.model
        self.guard = StallGuard(board, StallLimits(stall_s=model.stall_timeout_s, engine_start_s=model.engine_start_timeout_s),
                                started=time.time(), unit_names=unit_names)
        self.metrics = JobMetrics(self.spec.name)
        try:
            yield
        finally:
            try:
                self._engines_seen(self.guard.poll(wait=True))
            finally:
                ray.kill(board)

    def reports(self, dataset: ray.data.Dataset) -> Iterator[WrittenFile]:
        """The writer's reports, guarded against stalls."""
        return self.guard.watch(as_written(dataset), self.idle)

    def idle(self, note: str | None) -> None:
        self._engines_seen(self.guard.snapshot)
        self.progress.tick(note)

    def written(self, report: WrittenFile) -> None:
        self._engines_seen(self.guard.poll())
        self.progress.written(report)
        self.timeline.sample(self.elapsed(), self.progress.counts)
        self.metrics.written(report)

    def committed(self, unit: CommittedUnit, commit_seconds: float) -> None:
        snapshot = self.guard.snapshot
        if unit.key not in snapshot.first_taken_at:  # the engines know a unit by its key (its rows' `_unit`)
            snapshot = self.guard.poll(wait=True)  # a unit that started and ended between two polls
        first = snapshot.first_taken_at.get(unit.key)
        timing = UnitTiming(unit=unit.location, rows=unit.rows, records=unit.records, rejects=unit.rejects,
                            committed_s=round(self.elapsed(), 3), commit_seconds=round(commit_seconds, 4),
                            first_taken_s=None if first is None else round(first - self.began_wall, 3))
        self.timeline.units.append(timing)
        self.metrics.committed(commit_seconds, timing.seconds)
        self.progress.committed()

    def close(self, *, stalled: str | None = None) -> None:
        """End the display and the timeline (again: only records `stalled`)."""
        if self.timeline.finished_s is None:
            self.progress.close()
            self.timeline.finished_s = round(self.elapsed(), 3)
        self.timeline.stalled = self.timeline.stalled or stalled

    def _engines_seen(self, snapshot: EngineSnapshot) -> None:
        """The timeline's engine start, and new answers' attempts as metrics."""
        if snapshot.first_ready_at is not None and self.timeline.engine_ready_s is None:
            self.timeline.engine_ready_s = round(snapshot.first_ready_at - self.began_wall, 3)
        new = {count: rows - self.attempts_seen.get(count, 0) for count, rows in snapshot.attempts.items()}
        new = {count: rows for count, rows in new.items() if rows > 0}
        if new and self.metrics is not None:
            self.metrics.answered(new)
            self.attempts_seen = dict(snapshot.attempts)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def as_written(dataset: ray.data.Dataset) -> Iterator[WrittenFile]:
    """The writer's reports, each as soon as its file is written. `iter_rows()` holds
    every block back until the next one is ready (it prefetches one), so each unit
    would commit a file late and a crash would lose the last finished unit (measured:
    a block done at 5 s reached the driver at 14 s, when the next one was done)."""
    for batch in dataset.iter_batches(batch_size=None, prefetch_batches=0, batch_format="pyarrow"):
        yield from WrittenFile.from_table(batch)
