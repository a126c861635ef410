"""Extract: rows in, one schema-valid record (or a reject) per row out.

read Parquet -> prepare prompts -> K2 engine (generate, parse, validate, re-ask)
-> write unit files. The result is a small dataset of written files, one row each.
"""

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


def build_extract(plan: ExtractPlan) -> ray.data.Dataset:
    spec, model = plan.spec, plan.spec.model
    prime = first_attempt_prime(spec.task.prime_tool_call)
    rows = ray.data.read_parquet(
        plan.input_files,
        filesystem=pa.fs.PyFileSystem(pa.fs.FSSpecHandler(plan.input_filesystem)),
        columns=[spec.input.id_column, *spec.task.prompt_columns],
        include_paths=True,
    ).rename_columns({"path": "_unit"})
    prompts = rows.map_batches(
        PreparePrompts(
            id_column=spec.input.id_column, prompt=spec.task.prompt, prompt_columns=spec.task.prompt_columns,
            system_prompt=plan.system_prompt, prime=prime, tokenizer_source=plan.model_source,
            tokenizer_revision=model.revision, max_model_len=model.max_model_len, max_tokens=model.max_tokens,
        ),
        batch_format="pandas",
    )
    answers = prompts.map_batches(
        K2Engine,
        fn_constructor_kwargs=dict(
            model={**model.model_dump(), "source": plan.model_source}, record_schema=plan.record_schema,
            tool_name=spec.task.tool_name, system_prompt=plan.system_prompt, prime=prime,
        ),
        batch_size=model.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=model.replicas, max_tasks_in_flight_per_actor=model.max_batches_in_flight),
        max_concurrency=model.max_batches_in_flight,
        **engine_resources(model.tensor_parallel_size, plan.use_gpus),
    )
    return answers.map_batches(
        WriteUnitFiles(
            filesystem=plan.output_filesystem, staging_dir=plan.staging_dir, id_field=plan.id_field,
            record_schema=plan.record_schema, metadata=plan.metadata,
        ),
        batch_format="pandas",
    )


def engine_resources(tensor_parallel_size: int, use_gpus: bool) -> dict:
    """One replica asks for all its ranks: GPUs on a GPU cluster, else CPU cores."""
    if use_gpus:
        return {"num_gpus": tensor_parallel_size, "num_cpus": 1}
    return {"num_cpus": tensor_parallel_size}
