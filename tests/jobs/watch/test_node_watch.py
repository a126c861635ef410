"""Which nodes a run lost, and when a lost replica that cannot come back holds the only
work left (then the driver runs it again over the replicas left: jobs/driver/node_loss.py).
The real node loss is in tests/jobs/cluster/test_cluster_shape.py."""

from jobs.watch.node_watch import REQUEUE_AFTER_S, LostNode, NodeWatch, stuck_on_lost_replicas
from operators.engine_progress import EngineBoard

T0 = 1_000_000.0


def node(node_id: str, alive: bool = True) -> dict:
    return {"NodeID": node_id, "Alive": alive, "NodeManagerAddress": f"10.0.0.{node_id[-1]}"}


def test_a_node_alive_during_the_run_and_then_dead_or_gone_is_lost():
    table = [node("head1"), node("w2"), node("w3"), node("old4", alive=False)]
    watch = NodeWatch(list_nodes=lambda: table, clock=lambda: T0, every_s=0)
    assert watch.poll() == [], "a node dead before the run is not its loss"
    table[1] = node("w2", alive=False)
    del table[2]
    assert watch.poll() == [LostNode("w2", "10.0.0.2", T0), LostNode("w3", "10.0.0.3", T0)]
    table.append(node("w5"))  # a node joins
    assert watch.poll() == [] and [n.node_id for n in watch.lost] == ["w2", "w3"]


def two_replicas(*, answered_at: float) -> tuple[EngineBoard, list[LostNode]]:
    """actor-1 on node-a (lost), actor-2 on node-b (ready, idle)."""
    board = EngineBoard()
    for engine, actor, where in (("e1", "actor-1", "node-a"), ("e2", "actor-2", "node-b")):
        board.starting(engine, T0, actor, where, f"host:{engine}")
        board.ready(engine, T0 + 30)
    board.taken("e1", {"k1": 16}, T0 + 31)
    board.taken("e2", {"k2": 16}, T0 + 31)
    board.answered("e2", {"k2": 16}, {1: 16}, answered_at)
    board.node_lost("node-a")
    return board, [LostNode("node-a", "10.0.0.7", T0 + 60)]


def test_idle_replicas_beside_a_lost_one_that_never_restarts_are_stuck():
    board, lost = two_replicas(answered_at=T0 + 50)
    ready_to_rerun = T0 + 60 + REQUEUE_AFTER_S
    assert not stuck_on_lost_replicas(board.snapshot(), lost, now=ready_to_rerun - 1, since=T0)
    assert stuck_on_lost_replicas(board.snapshot(), lost, now=ready_to_rerun, since=T0)
    assert not stuck_on_lost_replicas(board.snapshot(), [], now=ready_to_rerun, since=T0)
    assert not stuck_on_lost_replicas(board.snapshot(), lost, now=ready_to_rerun, since=T0 + 61), \
        "the engines of an earlier pass do not count"


def test_a_lost_replica_that_ray_restarts_or_busy_replicas_are_not_stuck():
    board, lost = two_replicas(answered_at=T0 + 50)
    board.taken("e2", {"k3": 16}, T0 + 70)
    assert not stuck_on_lost_replicas(board.snapshot(), lost, now=T0 + 500, since=T0), "a replica still works"
    board, lost = two_replicas(answered_at=T0 + 50)
    board.starting("e3", T0 + 65, "actor-1", "node-b", "host:e3")  # Ray restarts actor-1 on node-b
    assert not stuck_on_lost_replicas(board.snapshot(), lost, now=T0 + 500, since=T0)
    board.ready("e3", T0 + 90)
    assert not stuck_on_lost_replicas(board.snapshot(), lost, now=T0 + 500, since=T0)


def test_no_replica_left_is_not_stuck_but_waits_for_room():
    board = EngineBoard()
    board.starting("e1", T0, "actor-1", "node-a", "host:1")
    board.ready("e1", T0 + 30)
    board.node_lost("node-a")
    assert not stuck_on_lost_replicas(board.snapshot(), [LostNode("node-a", "", T0 + 40)], now=T0 + 900, since=T0)
