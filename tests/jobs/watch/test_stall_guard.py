"""The stall guard's decision (what is stuck, after how long) on the engines' board as
the engines fill it. The wedged-engine run is in tests/jobs/driver/test_operator_view.py."""

from jobs.watch.stall_guard import StallLimits, stalled
from jobs.watch.node_watch import LostNode
from operators.engine_progress import EngineBoard

LIMITS = StallLimits(stall_s=60, engine_start_s=600)
T0 = 1_000_000.0  # the run's start, wall clock


NAMES = {"k1": "in/a.parquet rows 0-64", "k2": "in/b.parquet rows 0-8"}  # the engines know units by their keys


def decide(board: EngineBoard, now: float, *, written_rows: int = 0, last_written: float | None = None,
           lost: list[LostNode] = ()) -> str | None:
    return stalled(board.snapshot(), now=now, started=T0, written_rows=written_rows, last_written=last_written,
                   limits=LIMITS, unit_names=NAMES, lost=lost)


def test_an_engine_that_never_gets_scheduled_is_an_engine_start_stall():
    board = EngineBoard()
    assert decide(board, T0 + 599) is None
    assert decide(board, T0 + 601).startswith("engine start: no engine replica was scheduled in 601 s")


def test_an_engine_start_is_timed_from_its_own_start():
    board = EngineBoard()
    board.starting("e1", T0 + 300)  # waited 300 s for resources, then began loading
    assert decide(board, T0 + 800) is None
    assert decide(board, T0 + 901).startswith("engine start: no engine replica finished starting in 601 s")


def test_rows_held_by_an_engine_that_answers_none_name_their_unit():
    board = EngineBoard()
    board.starting("e1", T0)
    board.ready("e1", T0 + 30)
    board.taken("e1", {"k1": 64, "k2": 8}, T0 + 31)
    board.answered("e1", {"k1": 4}, {1: 4}, T0 + 40)
    assert decide(board, T0 + 99) is None, "answered 59 s ago"
    problem = decide(board, T0 + 101)
    assert problem == ("unit in/a.parquet rows 0-64: the engine holds 60 of its rows and 1 other unit(s) and answered none "
                       "for 61 s (model.stall_timeout_s is 60 s)")


def test_a_written_file_is_progress_too():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken("e1", {"k1": 10}, T0 + 1)
    assert decide(board, T0 + 100, written_rows=0, last_written=T0 + 50) is None


def test_answered_rows_that_are_never_written_blame_the_writer():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken("e1", {"k1": 10}, T0 + 1)
    board.answered("e1", {"k1": 10}, {1: 8, 2: 2}, T0 + 5)
    assert decide(board, T0 + 70, written_rows=0).startswith("the writer: 10 answered rows were not written for 65 s")


def test_an_idle_engine_blames_the_input():
    board = EngineBoard()
    board.ready("e1", T0)
    assert decide(board, T0 + 61).startswith("reading the input: the engines hold no rows")


def test_a_restarting_engine_gets_the_engine_start_time():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken("e1", {"k1": 10}, T0 + 1)
    board.starting("e2", T0 + 10)  # e1 died; its replacement loads the model
    assert decide(board, T0 + 500) is None
    assert decide(board, T0 + 611).startswith("unit in/a.parquet")


def test_a_restarted_replica_holds_only_what_it_took_again():
    board = EngineBoard()
    board.starting("e1", T0, "actor-1", "node-a", "host:1")
    board.ready("e1", T0 + 30)
    board.taken("e1", {"k1": 64}, T0 + 31)
    board.starting("e2", T0 + 40, "actor-1", "node-b", "host:2")  # Ray restarted the actor elsewhere
    assert board.snapshot().in_engine == {}
    board.taken("e2", {"k1": 64}, T0 + 90)  # and sent it the block again
    assert board.snapshot().in_engine == {"k1": 64}


LOST = LostNode(node_id="node-a", address="10.0.0.7", at=T0 + 100)


def lost_engine_board() -> EngineBoard:
    board = EngineBoard()
    board.starting("e1", T0, "actor-1", "node-a", "host:1")
    board.ready("e1", T0 + 30)
    board.taken("e1", {"k1": 64}, T0 + 31)
    board.answered("e1", {"k1": 4}, {1: 4}, T0 + 40)
    assert board.node_lost("node-a") == ["k1"]
    return board


def test_a_lost_node_gets_the_engine_start_time_and_is_then_named():
    board = lost_engine_board()
    assert decide(board, T0 + 650, lost=[LOST]) is None, "within engine_start_timeout_s of the loss, not stall_timeout_s"
    assert decide(board, T0 + 701, lost=[LOST]) == (
        "node node-a (10.0.0.7) was lost 601 s ago and no node had room for an engine replica since "
        "(model.engine_start_timeout_s is 600 s); the committed units stay, a re-run does the rest")


def test_a_replica_restarting_after_the_loss_is_timed_from_its_own_start():
    board = lost_engine_board()
    board.starting("e2", T0 + 400, "actor-1", "node-b", "host:2")
    assert decide(board, T0 + 999, lost=[LOST]) is None
    assert decide(board, T0 + 1001, lost=[LOST]).startswith(
        "node node-a (10.0.0.7) was lost 901 s ago and the engine replica Ray started in its place did not finish "
        "starting in 601 s")


def test_rows_answered_after_the_loss_are_progress_as_usual():
    board = lost_engine_board()
    board.starting("e2", T0 + 110, "actor-2", "node-b", "host:2")
    board.ready("e2", T0 + 120)
    board.answered("e2", {"k2": 8}, {1: 8}, T0 + 130)
    assert decide(board, T0 + 189, written_rows=12, lost=[LOST]) is None
    assert decide(board, T0 + 191, written_rows=12, lost=[LOST]).startswith("reading the input: the engines hold no rows")
