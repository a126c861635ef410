"""What engine actors tell the driver about their rows while a job runs: when each engine
began and finished starting, which units' rows it holds, how many rows it answered and
with how many attempts. The driver's stall guard and timeline read it
(jobs/watch/stall_guard.py); the driver exports the attempts as Ray metrics.

The board is a named actor the driver starts for one run (`BOARD_NAME`, in the job's
own Ray namespace, so two jobs on one cluster never share one). An engine that finds no
board (a notebook preview, a benchmark) reports nothing. Engines tell it at most once a
second, so a large job costs the board a handful of calls a second.
"""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

BOARD_NAME = "k2batch-engine-progress"
FLUSH_EVERY_S = 1.0


@dataclass
class EngineSnapshot:
    """The board's view at one moment; times are wall-clock seconds (time.time()), as
    engines on other nodes report them."""

    starting: dict[str, float] = field(default_factory=dict)  # engine -> when it began starting, until ready
    ready: int = 0  # engines that finished starting
    first_ready_at: float | None = None
    in_engine: dict[str, int] = field(default_factory=dict)  # unit -> rows taken, not yet answered
    answered: int = 0
    last_answered_at: float | None = None
    attempts: dict[int, int] = field(default_factory=dict)  # attempts -> rows answered with that many
    first_taken_at: dict[str, float] = field(default_factory=dict)  # unit -> when an engine first took a row of it


class EngineBoard:
    """The run's board (started by the driver as a Ray actor named BOARD_NAME)."""

    def __init__(self):
        self.state = EngineSnapshot()

    def starting(self, engine: str, at: float) -> None:
        self.state.starting[engine] = at

    def ready(self, engine: str, at: float) -> None:
        self.state.starting.pop(engine, None)
        self.state.ready += 1
        self.state.first_ready_at = self.state.first_ready_at or at

    def taken(self, units: dict[str, int], at: float) -> None:
        for unit, rows in units.items():
            self.state.in_engine[unit] = self.state.in_engine.get(unit, 0) + rows
            self.state.first_taken_at.setdefault(unit, at)

    def answered(self, units: dict[str, int], attempts: dict[int, int], at: float) -> None:
        for unit, rows in units.items():
            left = self.state.in_engine.get(unit, 0) - rows
            if left > 0:
                self.state.in_engine[unit] = left
            else:
                self.state.in_engine.pop(unit, None)
            self.state.answered += rows
        for count, rows in attempts.items():
            self.state.attempts[count] = self.state.attempts.get(count, 0) + rows
        self.state.last_answered_at = at

    def snapshot(self) -> EngineSnapshot:
        return self.state


class EngineReporter:
    """An engine actor's side: tells the run's board, if there is one, what it does."""

    def __init__(self):
        import ray

        self.board = None  # no run's board: a preview, a benchmark, an engine outside Ray
        if ray.is_initialized():
            try:
                self.board = ray.get_actor(BOARD_NAME)
            except ValueError:
                pass
        self.engine = uuid.uuid4().hex[:12]
        self.units: Counter = Counter()
        self.attempts: Counter = Counter()
        self.last_flush = 0.0
        self.flush_pending = False

    def starting(self) -> None:
        if self.board is not None:
            self.board.starting.remote(self.engine, time.time())

    def ready(self) -> None:
        if self.board is not None:
            self.board.ready.remote(self.engine, time.time())

    def taken(self, units: list[str]) -> None:
        if self.board is not None:
            self.board.taken.remote(dict(Counter(units)), time.time())

    def answered(self, unit: str, attempts: int) -> None:
        """One row answered (called on the engine's event loop); sent on with others at
        most once a second, and never later than a second after it was answered."""
        self.units[unit] += 1
        self.attempts[attempts] += 1
        wait = FLUSH_EVERY_S - (time.monotonic() - self.last_flush)
        if wait <= 0:
            self.flush()
        elif not self.flush_pending:
            self.flush_pending = True
            asyncio.get_running_loop().call_later(wait, self.flush)

    def flush(self) -> None:
        self.flush_pending = False
        if self.board is not None and self.units:
            self.board.answered.remote(dict(self.units), dict(self.attempts), time.time())
        self.units, self.attempts = Counter(), Counter()
        self.last_flush = time.monotonic()
