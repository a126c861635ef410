"""Everything a run tells the outside while it runs, fed from one place: each writer
report and each unit commit go to the progress display, the timeline and the Ray
metrics; the stall guard watches the engines' board and the writer's reports; the node
watch notes the nodes the run loses (jobs/watch/node_watch.py), and the driver's own
checks (`ticks`: a drain, a lost replica) run with every report, commit and idle second."""

import logging
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator, TextIO

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from jobs.watch.metrics import JobMetrics
from jobs.watch.node_watch import LostNode, NodeWatch
from jobs.watch.progress import Progress, RunStart
from jobs.watch.stall_guard import StallGuard, StallLimits
from jobs.watch.timeline import Timeline, UnitTiming
from jobs.spec import JobSpec
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.run_summary import NodeLoss
from operators.engine_progress import BOARD_NAME, EngineBoard, EngineSnapshot
from operators.written_file import WrittenFile

log = logging.getLogger("k2batch")


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
        self.board = None
        self.nodes: NodeWatch | None = None
        self.losses: list[NodeLoss] = []
        self.committed_keys: set[str] = set()
        self.unit_names: dict[str, str] = {}
        self.ticks: list[Callable[[], None]] = []  # the driver's checks, run with every report, commit and idle second

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    @contextmanager
    def flow(self, unit_names: dict[str, str]) -> Iterator[None]:
        """While a flow runs (Ray connected): the engines' board, the guard, the metrics.
        `unit_names`: each running unit's key and how a user finds it (a stall names it)."""
        # On the driver's node: the board must outlive any worker node the run loses.
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        board = ray.remote(EngineBoard).options(name=BOARD_NAME, num_cpus=0, max_restarts=0,
                                                scheduling_strategy=here).remote()
        model = self.spec.model
        self.board, self.unit_names = board, unit_names
        self.guard = StallGuard(board, StallLimits(stall_s=model.stall_timeout_s, engine_start_s=model.engine_start_timeout_s),
                                started=time.time(), unit_names=unit_names)
        self.nodes = NodeWatch()
        self.nodes.poll(now=True)  # the nodes the run starts with
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
        self._tick()

    def written(self, report: WrittenFile) -> None:
        self._engines_seen(self.guard.poll())
        self.progress.written(report)
        self.timeline.sample(self.elapsed(), self.progress.counts)
        self.metrics.written(report)
        self._tick()

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
        self.committed_keys.add(unit.key)
        self._tick()

    def rerun(self, dropped: list[CommittedUnit], keys: list[str], loss: LostNode | None) -> None:
        """`keys` run again in a new pass, what was written of them (`dropped`) no longer
        counts; `loss`: the node whose loss made it so, whose record lists them."""
        self.progress.dropped(sum(u.records for u in dropped), sum(u.rejects for u in dropped))
        record = next((r for r in reversed(self.losses) if loss and r.node_id == loss.node_id), None)
        if record is not None:
            names = [self.unit_names.get(key, key) for key in keys]
            record.rerun_units = sorted(set(record.rerun_units) | set(names))

    def _tick(self) -> None:
        self.poll_nodes()
        for check in list(self.ticks):
            check()

    def poll_nodes(self, *, now: bool = False) -> None:
        """Note the nodes lost since the last poll (`now`: ask Ray now, not at the poll's pace)."""
        for loss in self.nodes.poll(now=now) if self.nodes else ():
            self._lost(loss)

    def _lost(self, loss: LostNode) -> None:
        """A lost node: its engines hold nothing any more; one line, and summary.json's record."""
        units = ray.get(self.board.node_lost.remote(loss.node_id), timeout=30)
        rerun = [self.unit_names.get(key, key) for key in units if key not in self.committed_keys]
        self.guard.lost.append(loss)
        self.losses.append(NodeLoss(node_id=loss.node_id, address=loss.address,
                                    lost_after_s=round(loss.at - self.began_wall, 3), rerun_units=rerun))
        log.warning("lost node %s after %.0f s: %d unit(s) in flight there run again (%s); committed units stay",
                    loss.name(), loss.at - self.began_wall, len(rerun), ", ".join(rerun) or "none")

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
