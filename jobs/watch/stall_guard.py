"""The stall guard: a job that stops making progress ends with exit 4 and one line naming
what was stuck, instead of hanging until a scheduler's timeout (Ray Data by itself
gives up only after 30 minutes without progress).

The writer's reports are read in a thread of their own and handed to the driver's loop
through a queue, so that the loop wakes every second even while Ray Data has nothing
for it: it then polls the engines' board (operators/engine_progress.py) and decides:
- no engine finished starting within `model.engine_start_timeout_s` of the run's
  start (or of an engine's restart) -> "engine start";
- a node lost (jobs/watch/node_watch.py) and no row answered or written since: its
  replicas are restarting elsewhere, or wait for room -> they have
  `model.engine_start_timeout_s`, from the loss or from their own restart, and then the
  lost node is named;
- otherwise, no row answered or written for `model.stall_timeout_s` -> the unit whose
  rows the engines hold, else "the writer" (rows answered but not written), else
  "reading the input" (the engines hold no rows).
"""

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from jobs.watch.node_watch import LostNode
from operators.engine_progress import EngineSnapshot
from operators.written_file import WrittenFile

POLL_EVERY_S = 2.0


class StallError(RuntimeError):
    """The job stopped making progress; the message names what was stuck."""


@dataclass(frozen=True)
class StallLimits:
    stall_s: float  # model.stall_timeout_s
    engine_start_s: float  # model.engine_start_timeout_s


def stalled(snapshot: EngineSnapshot, *, now: float, started: float, written_rows: int, last_written: float | None,
            limits: StallLimits, unit_names: dict[str, str] | None = None, lost: list[LostNode] = ()) -> str | None:
    """What is stuck, or None. Times are wall-clock seconds (the engines report theirs);
    `unit_names`: how a user finds a unit the engines know by its key; `lost`: the nodes
    the run lost."""
    if not snapshot.ready:
        since = min(snapshot.starting.values(), default=started)  # an engine's own start, once it has one
        if now - since <= limits.engine_start_s:
            return None
        if not snapshot.starting:
            return (f"engine start: no engine replica was scheduled in {now - started:.0f} s (the cluster lacks the "
                    "resources for one, or its nodes are still starting); model.engine_start_timeout_s "
                    f"is {limits.engine_start_s:g} s")
        return (f"engine start: no engine replica finished starting in {now - since:.0f} s "
                f"(model.engine_start_timeout_s is {limits.engine_start_s:g} s); its log is in the run's log file")
    last = max(t for t in (snapshot.last_ready_at, snapshot.last_answered_at, last_written) if t is not None)
    loss = max((loss for loss in lost if loss.at >= last), key=lambda loss: loss.at, default=None)
    if loss is not None:  # nothing done since the node went
        return _waiting_for_room(snapshot, loss, now=now, limits=limits)
    idle = now - last
    if idle <= limits.stall_s:
        return None
    restarting = min(snapshot.starting.values(), default=None)
    if restarting is not None and now - restarting <= limits.engine_start_s:
        return None  # an engine is restarting: it has engine_start_timeout_s
    held = sum(snapshot.in_engine.values())
    window = f"for {idle:.0f} s (model.stall_timeout_s is {limits.stall_s:g} s)"
    if held:
        unit, rows = max(snapshot.in_engine.items(), key=lambda item: item[1])
        others = f" and {len(snapshot.in_engine) - 1} other unit(s)" if len(snapshot.in_engine) > 1 else ""
        return f"unit {(unit_names or {}).get(unit, unit)}: the engine holds {rows} of its rows{others} and answered none {window}"
    if snapshot.answered > written_rows:
        return f"the writer: {snapshot.answered - written_rows} answered rows were not written {window}"
    return f"reading the input: the engines hold no rows and none was answered {window}"


def _waiting_for_room(snapshot: EngineSnapshot, loss: LostNode, *, now: float, limits: StallLimits) -> str | None:
    """A lost node's replicas have engine_start_timeout_s from the loss, or from a restart
    Ray began since, to answer again."""
    since = max([loss.at, *snapshot.starting.values()])
    if now - since <= limits.engine_start_s:
        return None
    limit = f"model.engine_start_timeout_s is {limits.engine_start_s:g} s"
    if snapshot.starting:
        return (f"node {loss.name()} was lost {now - loss.at:.0f} s ago and the engine replica Ray started in its "
                f"place did not finish starting in {now - since:.0f} s ({limit})")
    return (f"node {loss.name()} was lost {now - loss.at:.0f} s ago and no node had room for an engine replica since "
            f"({limit}); the committed units stay, a re-run does the rest")


class StallGuard:
    """Yields the writer's reports; raises StallError once `stalled` names something."""

    def __init__(self, board, limits: StallLimits, *, started: float, unit_names: dict[str, str] | None = None,
                 clock: Callable[[], float] = time.time):
        self.board = board  # the run's EngineBoard actor handle
        self.limits = limits
        self.started = started
        self.clock = clock
        self.unit_names = unit_names or {}
        self.snapshot = EngineSnapshot()
        self.written_rows = 0
        self.last_written: float | None = None
        self._pending = None
        self._last_poll = 0.0
        self.lost: list[LostNode] = []  # the run's lost nodes (jobs/watch/node_watch.py), kept by the run's watch

    def watch(self, reports: Iterable[WrittenFile], on_idle: Callable[[str | None], None]) -> Iterator[WrittenFile]:
        """`reports`, as they come; `on_idle(note)` about once a second while none comes
        (`note` says what the run waits for, e.g. the engine's start)."""
        handoff: queue.Queue = queue.Queue(maxsize=64)
        done = object()

        def produce() -> None:
            try:
                for report in reports:
                    handoff.put(("report", report))
                handoff.put(("end", done))
            except BaseException as err:  # handed to the driver's thread, which raises it
                handoff.put(("error", err))

        threading.Thread(target=produce, name="k2batch-writer-reports", daemon=True).start()
        while True:
            try:
                kind, item = handoff.get(timeout=1.0)
            except queue.Empty:
                self.check()
                on_idle(self.note())
                continue
            if kind == "end":
                return
            if kind == "error":
                raise item
            self.written_rows += item.rows
            self.last_written = self.clock()
            yield item

    def poll(self, *, wait: bool = False) -> EngineSnapshot:
        """The board's latest snapshot, asked for at most every POLL_EVERY_S (or now, with `wait`)."""
        import ray

        if self._pending is None and (wait or time.monotonic() - self._last_poll >= POLL_EVERY_S):
            self._pending, self._last_poll = self.board.snapshot.remote(), time.monotonic()
        if self._pending is not None:
            ready, _ = ray.wait([self._pending], timeout=10 if wait else 0)
            if ready:
                self.snapshot, self._pending = ray.get(ready[0]), None
        return self.snapshot

    def check(self) -> None:
        problem = stalled(self.poll(), now=self.clock(), started=self.started, written_rows=self.written_rows,
                          last_written=self.last_written, limits=self.limits, unit_names=self.unit_names, lost=self.lost)
        if problem:
            raise StallError(f"stalled: {problem}")

    def note(self) -> str | None:
        return None if self.snapshot.ready else "waiting for the engine to start"
