"""The stages every flow is made of (pipelines/registry.py composes them): read the
pending units, run the engine actors, write unit files; and the one unit reader that
the read stage, the notebook's preview and `k2batch estimate` read rows with."""

import functools
from contextlib import contextmanager
from typing import Callable

import pyarrow as pa
import ray

from operators.drain_gate import gated
from operators.read_units import UnitRead, UnitSource, read_unit
from operators.write_parquet import WriteUnitFiles
from pipelines.engine_actor import engine_stage
from pipelines.flow_plan import FlowPlan, ReadSettings


def unit_reader(read: ReadSettings) -> Callable[[UnitRead], pa.Table]:
    """Reads one unit of `read.units`: the columns the job reads, cast to `read.schema`
    (files may disagree on a text column's type), with `_unit` (operators/read_units.py)."""
    return functools.partial(read_unit, filesystem=read.filesystem, schema=read.schema)


def read_rows(read: ReadSettings) -> ray.data.Dataset:
    """The pending units' rows: one read task and one block per unit; none once the run
    drains (operators/drain_gate.py)."""
    source = UnitSource(read.units, gated(unit_reader(read), read.schema), read.schema)
    return ray.data.read_datasource(source, override_num_blocks=len(read.units))


def answer_rows(prompts: ray.data.Dataset, plan: FlowPlan) -> ray.data.Dataset:
    """The engine stage (pipelines/engine_actor.py). `max_batches_in_flight` batches of
    one input block go to the engine together, and the next block's task waits queued at
    the actor, so that the engine always holds more rows than one step schedules
    (measured on the CPU engine, which schedules 256: 128 rows in flight ran 15-20% slower
    than 512). The depth takes effect only while the caller iterates inside
    `engine_stage_depth` (jobs/driver/run.py)."""
    return prompts.map_batches(**engine_stage(plan))


@contextmanager
def engine_stage_depth(batches: int):
    """Within this block, Ray Data feeds an async UDF (K2Engine) `batches` batches of one
    block at once. Ray reads this from a module constant (default 4, env
    RAY_DATA_DEFAULT_ASYNC_BATCH_UDF_MAX_CONCURRENCY at import) when the driver plans the
    dataset, that is when iteration starts, so the block must hold the iteration;
    map_batches has no argument for it in ray 2.60, which pyproject pins. The constant
    is restored after, so that a notebook's own async UDFs keep Ray's default."""
    from ray.data._internal.planner import plan_udf_map_op

    name = "DEFAULT_ASYNC_BATCH_UDF_MAX_CONCURRENCY"
    if not hasattr(plan_udf_map_op, name):
        raise RuntimeError(f"this Ray version has no {name}: model.max_batches_in_flight cannot be applied "
                           "(ray 2.60 is the version pinned)")
    before = getattr(plan_udf_map_op, name)
    setattr(plan_udf_map_op, name, batches)
    try:
        yield
    finally:
        setattr(plan_udf_map_op, name, before)


def write_rows(answers: ray.data.Dataset, plan: FlowPlan, *, summary_column: bool) -> ray.data.Dataset:
    write = plan.write
    return answers.map_batches(
        WriteUnitFiles(
            filesystem=write.filesystem, staging_dir=write.staging_dir, id_field=write.id_field,
            record_schema=write.record_schema, metadata=write.metadata, summary_column=summary_column,
            label_column=write.label_column, confidence=write.confidence, plain_types=write.plain_types,
        ),
        batch_format="pandas",
    )
