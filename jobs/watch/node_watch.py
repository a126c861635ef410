"""Nodes a run loses while it runs: a worker node that Ray's control store (the GCS) marks
dead, e.g. a spot instance taken back. Ray restarts the engine replicas that ran there on
any node with room and sends them their rows again; what the run does about it:
- the driver tells the engines' board (operators/engine_progress.py), so that rows held
  there no longer count as held, and learns which units were in flight there;
- it logs one line and records the loss in summary.json (`NodeLoss`);
- the stall guard gives the lost replicas `model.engine_start_timeout_s` to come back
  (jobs/watch/stall_guard.py), and `stuck_on_lost_replicas` says when a lost replica
  that cannot come back holds the only work left, which the driver then runs again on
  the replicas that remain (jobs/driver/node_loss.py).
"""

import time
from dataclasses import dataclass
from typing import Callable

from operators.engine_progress import EngineSnapshot

POLL_EVERY_S = 2.0
# A lost replica that Ray could restart is placed within a second or two; survivors idle
# this long while it is not even starting mean there is no room for it.
REQUEUE_AFTER_S = 15.0


@dataclass(frozen=True)
class LostNode:
    node_id: str
    address: str  # the node's IP address, as `ray status` shows it
    at: float  # wall-clock time the driver saw it dead

    def name(self) -> str:
        return f"{self.node_id} ({self.address})"


def _ray_nodes() -> list[dict]:
    import ray

    return ray.nodes()


class NodeWatch:
    """Polls Ray's node table; a node seen alive during the run and then dead (or gone from
    the table) is lost. Nodes dead before the run are not this run's losses."""

    def __init__(self, *, list_nodes: Callable[[], list[dict]] = _ray_nodes, clock: Callable[[], float] = time.time,
                 every_s: float = POLL_EVERY_S):
        self.list_nodes, self.clock, self.every_s = list_nodes, clock, every_s
        self.alive: dict[str, str] = {}  # node id -> address, as last seen alive
        self.lost: list[LostNode] = []
        self._last_poll = float("-inf")

    def poll(self, *, now: bool = False) -> list[LostNode]:
        """The nodes lost since the last poll (asked at most every `every_s`, or `now`)."""
        if not now and time.monotonic() - self._last_poll < self.every_s:
            return []
        self._last_poll = time.monotonic()
        table = {n["NodeID"]: n for n in self.list_nodes()}
        found = [LostNode(node_id=node, address=address, at=self.clock()) for node, address in self.alive.items()
                 if not table.get(node, {}).get("Alive", False)]
        for loss in found:
            del self.alive[loss.node_id]
        self.alive.update({node: n.get("NodeManagerAddress", "") for node, n in table.items() if n.get("Alive")})
        self.lost += found
        return found


def stuck_on_lost_replicas(snapshot: EngineSnapshot, lost: list[LostNode], *, now: float, since: float) -> bool:
    """Whether the run's remaining work waits on replicas of lost nodes that Ray has not
    started again, while other replicas are ready and idle: Ray sends a replica's rows
    to that replica only, so without room for it they would wait for ever. Only the
    engines of the pass that began at `since` count."""
    if not lost:
        return False
    lost_nodes = {loss.node_id for loss in lost}
    engines = [e for e in snapshot.engines.values() if e.started_at >= since]
    lost_actors = {e.actor for e in engines if e.node in lost_nodes and e.actor}
    restarted = {e.actor for e in engines if e.actor in lost_actors and e.node not in lost_nodes}
    if not lost_actors - restarted:
        return False
    live = [e for e in engines if not e.gone and e.node not in lost_nodes]
    if not any(e.ready_at is not None for e in live) or any(e.held for e in live) or snapshot.starting:
        return False
    last = max([t for t in (since, snapshot.last_answered_at, max(loss.at for loss in lost)) if t is not None])
    return now - last >= REQUEUE_AFTER_S
