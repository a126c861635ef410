"""Extract: rows in, one schema-valid record (or a reject) per row out.

read Parquet -> prepare prompts -> K2 engine (generate, parse, validate, re-ask)
-> write unit files. The result is a small dataset of written files, one row each.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import ray

from jobs.spec import JobSpec
from operators.k2_engine import K2Engine
from operators.prepare_prompts import PreparePrompts, first_attempt_prime
from operators.write_parquet import WriteUnitFiles
from schemas.record_schema import RecordSchema


@dataclass
class ExtractPlan:
    spec: JobSpec
    record_schema: RecordSchema
    system_prompt: str
    model_source: str  # resolved: an absolute folder or a hub id
    input_files: list[str]
    input_filesystem: object  # fsspec filesystem
    output_filesystem: object
    staging_dir: str
    id_field: pa.Field
    metadata: dict[str, str]
    use_gpus: bool
    read_schema: pa.Schema | None = None  # the columns read, typed alike for every file (check_job.read_schema)


def build_extract(plan: ExtractPlan) -> ray.data.Dataset:
    prime = first_attempt_prime(plan.spec.task.prime_tool_call)
    rows = read_rows(plan, plan.spec.task.prompt_columns)
    prompts = rows.map_batches(PreparePrompts(prime=prime, **prompt_settings(plan)), batch_format="pandas")
    answers = answer_rows(prompts, plan, prime=prime)
    return write_rows(answers, plan)


# The stages below are shared by every flow (pipelines/summarize.py, pipelines/label.py).

def read_rows(plan: ExtractPlan, columns: list[str]) -> ray.data.Dataset:
    """The id column and `columns` of the pending input files, with `_unit` (the file)."""
    names = list(dict.fromkeys([plan.spec.input.id_column, *columns]))
    known = plan.read_schema is not None and all(n in plan.read_schema.names for n in names)
    schema = pa.schema([plan.read_schema.field(n) for n in names]) if known else None
    return ray.data.read_parquet(
        plan.input_files,
        filesystem=pa.fs.PyFileSystem(pa.fs.FSSpecHandler(plan.input_filesystem)),
        schema=schema,  # files may disagree on a text column's type: read all as this schema
        include_paths=True,
    ).select_columns([*names, "path"]).rename_columns({"path": "_unit"})


def prompt_settings(plan: ExtractPlan) -> dict:
    """PreparePrompts' arguments besides the prime."""
    spec, model = plan.spec, plan.spec.model
    return dict(
        id_column=spec.input.id_column, prompt=spec.task.prompt, prompt_columns=spec.task.prompt_columns,
        system_prompt=plan.system_prompt, tokenizer_source=plan.model_source,
        tokenizer_revision=model.revision, max_model_len=model.max_model_len, max_tokens=model.max_tokens,
        overflow=spec.task.overflow,
    )


def engine_arguments(plan: ExtractPlan, *, prime: str, summarize: bool = False) -> dict:
    """K2Engine's constructor arguments (also what the notebook preview configures it with)."""
    spec = plan.spec
    return dict(
        model={**spec.model.model_dump(), "source": plan.model_source}, record_schema=plan.record_schema,
        tool_name=spec.task.tool_name, system_prompt=plan.system_prompt, prime=prime, summarize=summarize,
    )


# Input blocks an engine actor works on at once: the next block starts while the last
# batches of one finish.
ENGINE_TASKS_PER_ACTOR = 2


def answer_rows(prompts: ray.data.Dataset, plan: ExtractPlan, *, prime: str, summarize: bool = False) -> ray.data.Dataset:
    """The engine stage. `max_batches_in_flight` batches of one input block go to the
    engine together, and the next block's task waits queued at the actor, so that the
    engine always holds more rows than one step schedules (measured on the CPU engine,
    which schedules 256: 128 rows in flight ran 15-20% slower than 512). The depth takes
    effect only while the caller iterates inside `engine_stage_depth` (jobs/run.py)."""
    model = plan.spec.model
    return prompts.map_batches(
        K2Engine,
        fn_constructor_kwargs=engine_arguments(plan, prime=prime, summarize=summarize),
        batch_size=model.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=model.replicas, max_tasks_in_flight_per_actor=ENGINE_TASKS_PER_ACTOR),
        max_concurrency=ENGINE_TASKS_PER_ACTOR,
        **engine_resources(model.tensor_parallel_size, plan.use_gpus),
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


def write_rows(answers: ray.data.Dataset, plan: ExtractPlan, *, summary: bool = False) -> ray.data.Dataset:
    return answers.map_batches(
        WriteUnitFiles(
            filesystem=plan.output_filesystem, staging_dir=plan.staging_dir, id_field=plan.id_field,
            record_schema=plan.record_schema, metadata=plan.metadata, summary=summary,
        ),
        batch_format="pandas",
    )


def engine_resources(tensor_parallel_size: int, use_gpus: bool) -> dict:
    """One replica asks for all its ranks: GPUs on a GPU cluster, else CPU cores."""
    if use_gpus:
        return {"num_gpus": tensor_parallel_size, "num_cpus": 1}
    return {"num_cpus": tensor_parallel_size}
