"""The driver's passes after a node loss (jobs/driver/node_loss.py), their branches with a
stand-in pass and watch: a pass stuck on a lost replica, or failed after a loss, is
followed by one over the uncommitted units only; an error without a loss ends the run.
The real node loss is in tests/jobs/cluster/test_cluster_shape.py."""

import pytest

from jobs.driver.commit import UnitCommitter
from jobs.driver.node_loss import StuckOnLostReplica, run_passes
from jobs.plan.input_files import InputFile
from jobs.plan.input_units import make_unit
from jobs.storage.run_summary import NodeLoss
from jobs.watch.node_watch import LostNode
from operators.usage import Usage
from operators.written_file import WrittenFile
from tests.jobs.driver.test_commit import FakeStore

FILE = InputFile(path="in/a.parquet", size=1, version="v", row_groups=(12,), schema=None)
UNITS = [make_unit("fp", FILE, start=start, rows=4) for start in (0, 4, 8)]
LOSS = LostNode("node-a", "10.0.0.7", 100.0)


class Remote:
    def __init__(self):
        self.calls = 0

    def remote(self):
        self.calls += 1


class StandInWatch:
    """What run_passes asks of the run's watch (jobs/watch/run_watch.py RunWatch)."""

    def __init__(self):
        self.losses, self.ticks, self.reruns = [], [], []
        self.nodes = type("Nodes", (), {"lost": []})()
        self.board = type("Board", (), {"new_pass": Remote()})()

    def poll_nodes(self, *, now=False):
        pass

    def lose(self, loss: LostNode):
        self.nodes.lost.append(loss)
        self.losses.append(NodeLoss(node_id=loss.node_id, address=loss.address, lost_after_s=1.0, rerun_units=[]))

    def rerun(self, dropped, keys, loss):
        self.reruns.append(([(u.key, u.records) for u in dropped], keys, loss))


def written(unit, rows, replica="host:1"):
    return WrittenFile(unit=unit.key, kind="records", path=f"{unit.key}-{rows}", rows=rows, usage=Usage(rows, rows),
                       replica=replica, engine_start=0.0, engine_end=1.0)


def test_a_pass_stuck_on_a_lost_replica_is_followed_by_one_over_the_uncommitted_units():
    committer, watch, passes = UnitCommitter(FakeStore(), UNITS, "fp"), StandInWatch(), []

    def run_pass(units):
        passes.append([u.key for u in units])
        if len(passes) == 1:
            committer.add(written(UNITS[0], 4))  # committed
            committer.add(written(UNITS[1], 2))  # half written on the replica that stays
            watch.lose(LOSS)
            raise StuckOnLostReplica(LOSS)
        for unit in units:
            committer.add(written(unit, 4, replica="host:2"))

    run_passes(run_pass, committer, watch)
    assert passes == [[u.key for u in UNITS], [UNITS[1].key, UNITS[2].key]], "committed units never run again"
    assert watch.reruns == [([(UNITS[1].key, 2)], [UNITS[1].key, UNITS[2].key], LOSS)]
    assert watch.board.new_pass.calls == 1 and watch.ticks == []
    assert set(committer.committed) == {u.key for u in UNITS}
    assert committer.rows_by_replica == {"host:1": 4, "host:2": 8}, "the half-written unit's first rows never count"


def test_an_error_after_a_loss_gets_one_more_pass_per_lost_node():
    committer, watch, passes = UnitCommitter(FakeStore(), UNITS, "fp"), StandInWatch(), []

    def run_pass(units):
        passes.append(len(units))
        if len(passes) == 1:
            watch.lose(LOSS)
        raise RuntimeError("ObjectLostError: the block was lost with its node")

    with pytest.raises(RuntimeError, match="ObjectLostError"):
        run_passes(run_pass, committer, watch)
    assert passes == [3, 3], "a second pass for the one lost node, then the error ends the run"


def test_an_error_without_a_loss_ends_the_run():
    committer, watch = UnitCommitter(FakeStore(), UNITS, "fp"), StandInWatch()

    def run_pass(units):
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_passes(run_pass, committer, watch)
    assert watch.reruns == []
