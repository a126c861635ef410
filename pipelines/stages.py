"""The stages every flow is made of (pipelines/registry.py composes them): read the
pending units, run the engine actors, write unit files."""

from contextlib import contextmanager

import ray

from operators.engine_settings import replica_resources
from operators.k2_engine import K2Engine
from operators.read_units import UnitSource
from operators.write_parquet import WriteUnitFiles
from pipelines.flow_plan import FlowPlan, ReadSettings


def read_rows(read: ReadSettings) -> ray.data.Dataset:
    """The columns the job reads of the pending units, with `_unit` (the unit's key):
    one read task and one block per unit (operators/read_units.py)."""
    source = UnitSource(read.units, read.filesystem, read.schema)  # files may disagree on a text column's type
    return ray.data.read_datasource(source, override_num_blocks=len(read.units))


# Input blocks an engine actor works on at once: the next block starts while the last
# batches of one finish.
ENGINE_TASKS_PER_ACTOR = 2


def answer_rows(prompts: ray.data.Dataset, plan: FlowPlan) -> ray.data.Dataset:
    """The engine stage. `max_batches_in_flight` batches of one input block go to the
    engine together, and the next block's task waits queued at the actor, so that the
    engine always holds more rows than one step schedules (measured on the CPU engine,
    which schedules 256: 128 rows in flight ran 15-20% slower than 512). The depth takes
    effect only while the caller iterates inside `engine_stage_depth` (jobs/driver/run.py)."""
    stage = plan.stage
    return prompts.map_batches(
        K2Engine,
        fn_constructor_kwargs=dict(engine=plan.engine, task=plan.task),
        batch_size=stage.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=stage.replicas, max_tasks_in_flight_per_actor=ENGINE_TASKS_PER_ACTOR),
        max_concurrency=ENGINE_TASKS_PER_ACTOR,
        **replica_resources(plan.engine.identity.tensor_parallel_size, stage.use_gpus),
    )


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
            label_column=write.label_column,
        ),
        batch_format="pandas",
    )
