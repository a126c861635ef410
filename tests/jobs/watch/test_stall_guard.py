"""The stall guard's decision (what is stuck, after how long) on the engines' board as
the engines fill it. The wedged-engine run is in tests/jobs/driver/test_operator_view.py."""

from jobs.watch.stall_guard import StallLimits, stalled
from operators.engine_progress import EngineBoard

LIMITS = StallLimits(stall_s=60, engine_start_s=600)
T0 = 1_000_000.0  # the run's start, wall clock


NAMES = {"k1": "in/a.parquet rows 0-64", "k2": "in/b.parquet rows 0-8"}  # the engines know units by their keys


def decide(board: EngineBoard, now: float, *, written_rows: int = 0, last_written: float | None = None) -> str | None:
    return stalled(board.snapshot(), now=now, started=T0, written_rows=written_rows, last_written=last_written,
                   limits=LIMITS, unit_names=NAMES)


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
    board.taken({"k1": 64, "k2": 8}, T0 + 31)
    board.answered({"k1": 4}, {1: 4}, T0 + 40)
    assert decide(board, T0 + 99) is None, "answered 59 s ago"
    problem = decide(board, T0 + 101)
    assert problem == ("unit in/a.parquet rows 0-64: the engine holds 60 of its rows and 1 other unit(s) and answered none "
                       "for 61 s (model.stall_timeout_s is 60 s)")


def test_a_written_file_is_progress_too():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken({"k1": 10}, T0 + 1)
    assert decide(board, T0 + 100, written_rows=0, last_written=T0 + 50) is None


def test_answered_rows_that_are_never_written_blame_the_writer():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken({"k1": 10}, T0 + 1)
    board.answered({"k1": 10}, {1: 8, 2: 2}, T0 + 5)
    assert decide(board, T0 + 70, written_rows=0).startswith("the writer: 10 answered rows were not written for 65 s")


def test_an_idle_engine_blames_the_input():
    board = EngineBoard()
    board.ready("e1", T0)
    assert decide(board, T0 + 61).startswith("reading the input: the engines hold no rows")


def test_a_restarting_engine_gets_the_engine_start_time():
    board = EngineBoard()
    board.ready("e1", T0)
    board.taken({"k1": 10}, T0 + 1)
    board.starting("e2", T0 + 10)  # e1 died; its replacement loads the model
    assert decide(board, T0 + 500) is None
    assert decide(board, T0 + 611).startswith("unit in/a.parquet")
