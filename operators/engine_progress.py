"""What engine actors tell the driver about their rows while a job runs: when each engine
began and finished starting, where it runs, which units' rows it holds, how many rows it
answered and with how many attempts. The driver's stall guard, node watch and timeline
read it (jobs/watch/); the driver exports the attempts as Ray metrics. The driver also
tells it when a node is lost (the engines there hold nothing any more) and when the run
drains (operators/drain_gate.py: the read stage then starts no new unit).

The board is a named actor the driver starts for one run (`BOARD_NAME`, in the job's
own Ray namespace, so two jobs on one cluster never share one), on the driver's own node:
a board on a worker node would die with that node and take the run with it. An engine
that finds no board (a notebook preview, a benchmark) reports nothing. Engines tell it at
most once a second, so a large job costs the board a handful of calls a second.
"""

import asyncio
import os
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

BOARD_NAME = "k2batch-engine-progress"
FLUSH_EVERY_S = 1.0


@dataclass
class EngineInstance:
    """One engine process: a replica's actor as started (a restart is a new instance)."""

    actor: str  # the Ray actor id ("" outside an actor); a restarted replica keeps it
    node: str  # the Ray node id it runs on
    replica: str  # how its answers name it (operators/written_file.py WrittenFile.replica)
    started_at: float
    ready_at: float | None = None
    held: dict[str, int] = field(default_factory=dict)  # unit -> rows taken, not yet answered
    units: set[str] = field(default_factory=set)  # every unit it took rows of
    gone: bool = False  # its node was lost, or its actor restarted: it holds nothing


@dataclass
class EngineSnapshot:
    """The board's view at one moment; times are wall-clock seconds (time.time()), as
    engines on other nodes report them."""

    starting: dict[str, float] = field(default_factory=dict)  # engine -> when it began starting, until ready
    ready: int = 0  # engines that finished starting
    first_ready_at: float | None = None
    last_ready_at: float | None = None
    in_engine: dict[str, int] = field(default_factory=dict)  # unit -> rows taken by live engines, not yet answered
    answered: int = 0
    last_answered_at: float | None = None
    attempts: dict[int, int] = field(default_factory=dict)  # attempts -> rows answered with that many
    first_taken_at: dict[str, float] = field(default_factory=dict)  # unit -> when an engine first took a row of it
    engines: dict[str, EngineInstance] = field(default_factory=dict)
    draining: bool = False


class EngineBoard:
    """The run's board (started by the driver as a Ray actor named BOARD_NAME)."""

    def __init__(self):
        self.state = EngineSnapshot()

    def starting(self, engine: str, at: float, actor: str = "", node: str = "", replica: str = "") -> None:
        for other in self.state.engines.values():
            if actor and other.actor == actor and not other.gone:
                self._gone(other)  # the same replica restarted: Ray sends it its rows again
        self.state.engines[engine] = EngineInstance(actor=actor, node=node, replica=replica, started_at=at)
        self.state.starting[engine] = at

    def ready(self, engine: str, at: float) -> None:
        self.state.starting.pop(engine, None)
        self.state.ready += 1
        self.state.first_ready_at = self.state.first_ready_at or at
        self.state.last_ready_at = at
        if engine in self.state.engines:
            self.state.engines[engine].ready_at = at

    def taken(self, engine: str, units: dict[str, int], at: float) -> None:
        instance = self._instance(engine, at)
        for unit, rows in units.items():
            self.state.first_taken_at.setdefault(unit, at)
            if not instance.gone:
                instance.held[unit] = instance.held.get(unit, 0) + rows
                instance.units.add(unit)

    def answered(self, engine: str, units: dict[str, int], attempts: dict[int, int], at: float) -> None:
        instance = self._instance(engine, at)
        for unit, rows in units.items():
            left = instance.held.get(unit, 0) - rows
            if left > 0:
                instance.held[unit] = left
            else:
                instance.held.pop(unit, None)
            self.state.answered += rows
        for count, rows in attempts.items():
            self.state.attempts[count] = self.state.attempts.get(count, 0) + rows
        self.state.last_answered_at = at

    def node_lost(self, node: str) -> list[str]:
        """The engines on `node` hold nothing any more; the units they took rows of."""
        units = set()
        for instance in self.state.engines.values():
            if instance.node == node:
                units |= instance.units
                self._gone(instance)
        return sorted(units)

    def new_pass(self) -> None:
        """The run stopped its engines to run its units again in a new pass: none holds anything."""
        for instance in self.state.engines.values():
            self._gone(instance)

    def drain(self) -> None:
        self.state.draining = True

    def draining(self) -> bool:
        return self.state.draining

    def snapshot(self) -> EngineSnapshot:
        held: Counter = Counter()
        for instance in self.state.engines.values():
            held.update(instance.held)
        self.state.in_engine = {unit: rows for unit, rows in held.items() if rows > 0}
        return self.state

    def _instance(self, engine: str, at: float) -> EngineInstance:
        """The engine's record; one that never said it was starting gets a blank one."""
        return self.state.engines.setdefault(engine, EngineInstance(actor="", node="", replica="", started_at=at))

    def _gone(self, instance: EngineInstance) -> None:
        instance.gone, instance.held = True, {}
        self.state.starting = {e: t for e, t in self.state.starting.items() if self.state.engines[e] is not instance}


def run_board():
    """The run's board (a handle), or None where there is none (a preview, a benchmark)."""
    import ray

    if not ray.is_initialized():
        return None
    try:
        return ray.get_actor(BOARD_NAME)
    except ValueError:
        return None


class EngineReporter:
    """An engine actor's side: tells the run's board, if there is one, what it does."""

    def __init__(self):
        import ray

        self.board = run_board()
        self.engine = uuid.uuid4().hex[:12]
        self.replica = f"{socket.gethostname()}:{os.getpid()}"  # the `_replica` of its answers
        context = ray.get_runtime_context() if ray.is_initialized() else None
        self.actor = (context.get_actor_id() or "") if context else ""
        self.node = context.get_node_id() if context else ""
        self.units: Counter = Counter()
        self.attempts: Counter = Counter()
        self.last_flush = 0.0
        self.flush_pending = False

    def starting(self) -> None:
        if self.board is not None:
            self.board.starting.remote(self.engine, time.time(), self.actor, self.node, self.replica)

    def ready(self) -> None:
        if self.board is not None:
            self.board.ready.remote(self.engine, time.time())

    def taken(self, units: list[str]) -> None:
        if self.board is not None:
            self.board.taken.remote(self.engine, dict(Counter(units)), time.time())

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
            self.board.answered.remote(self.engine, dict(self.units), dict(self.attempts), time.time())
        self.units, self.attempts = Counter(), Counter()
        self.last_flush = time.monotonic()
