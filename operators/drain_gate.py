"""The read stage's gate: once the run drains (SIGTERM, jobs/driver/drain.py), a unit not
yet read is read as no rows, so that no new unit reaches an engine; its rows are never
written and it stays uncommitted, for the next run. Ray Data passes an empty block
through the later stages without calling them. Each read task asks the run's board
(operators/engine_progress.py) once; without a board (a preview) there is no gate."""

import functools
from typing import Callable

import pyarrow as pa

from operators.engine_progress import run_board
from operators.read_units import UNIT_COLUMN, UnitRead

ASK_TIMEOUT_S = 30


def gated(read_one: Callable[[UnitRead], pa.Table], schema: pa.Schema) -> Callable[[UnitRead], pa.Table]:
    """`read_one`, reading no rows once the run drains; `schema`: the columns it reads."""
    return functools.partial(_read_unless_draining, read_one, schema)


def _read_unless_draining(read_one: Callable[[UnitRead], pa.Table], schema: pa.Schema, unit: UnitRead) -> pa.Table:
    import ray

    board = run_board()
    if board is not None and ray.get(board.draining.remote(), timeout=ASK_TIMEOUT_S):
        return schema.append(pa.field(UNIT_COLUMN, pa.string())).empty_table()
    return read_one(unit)
