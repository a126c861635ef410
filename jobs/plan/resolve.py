"""Resolve a spec into everything a run needs, checking all that can be checked before
a Ray worker or an engine starts: the record schema and its constraint, the system
prompt, the model folder, the input units and their columns, the fingerprints.

`k2batch validate` runs only this; `k2batch run` runs it first. Each error names the
spec field to fix.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from jobs.plan import fingerprint
from jobs.plan.id_check import check_ids
from jobs.plan.input_files import InputFile, list_parquet_files, read_input_files
from jobs.plan.input_units import Unit, plan_units
from jobs.plan.prompt_room import listed_prompt
from jobs.plan.read_schema import unified_read_schema
from jobs.spec import JobSpec, JobSpecError
from jobs.storage.filesystem import filesystem_for
from pipelines.registry import MODES
from schemas.constraint_compile import compile_record_constraint
from schemas.record_schema import RecordSchema, SchemaLoadError, load_record_schema
from schemas.schema_error import UnsupportedSchemaError

log = logging.getLogger("k2batch")


@dataclass
class ResolvedJob:
    spec: JobSpec
    record_schema: RecordSchema
    system_prompt: str
    model_source: str  # an absolute folder or a hub id
    input_fs: object
    files: list[InputFile]
    units: list[Unit]  # every unit of a run with nothing to reuse (jobs/driver/resume.py plans a resume)
    id_field: pa.Field
    fingerprints: dict[str, str]
    read_columns: list[str]  # the input columns the job reads, id first: the one list every reader uses
    read_schema: pa.Schema | None = None
    listing_left_out: str | None = None  # the tool is listed compactly: what its listing leaves out (jobs/plan/prompt_room.py)

    @property
    def input_files(self) -> list[str]:
        return [file.path for file in self.files]

    @property
    def input_rows(self) -> int:
        return sum(file.rows for file in self.files)


def read_columns_by_field(spec: JobSpec) -> dict[str, list[str]]:
    """The input columns a job reads, by the spec field that names them."""
    task = spec.task
    return {"input.id_column": [spec.input.id_column], "task.prompt": task.prompt_columns,
            "task.response_column": [task.response_column] if task.response_column else []}


def resolve_job(spec: JobSpec) -> ResolvedJob:
    record_schema = _load_schema(spec)
    model_source = _resolve_model(spec.model.source)
    listed = listed_prompt(spec, record_schema, model_source)
    system_prompt = listed.system_prompt
    if listed.left_out:
        log.warning("task.schema: the full tool listing leaves no room for input within model.max_model_len (%d) less "
                    "model.max_tokens (%d): the system prompt lists it compactly (the constraint still holds the "
                    "structure), leaving out %s", spec.model.max_model_len, spec.model.max_tokens, listed.left_out)
    fs, path = filesystem_for(spec.input.uri, spec.input.storage_options)
    files = read_input_files(fs, list_parquet_files(fs, path, spec.input.uri))  # rows, row groups, schema of each
    columns = files[0].schema
    needed = read_columns_by_field(spec)
    for field, names in needed.items():
        absent = [n for n in names if n not in columns.names]
        if absent:
            raise JobSpecError(f"{field}: column(s) {absent} are not in the input (it has {columns.names})")
    read_columns = list(dict.fromkeys(name for names in needed.values() for name in names))
    read_schema = unified_read_schema({f.path: f.schema for f in files}, read_columns, spec.input.id_column)
    check_ids(fs, files, spec.input.id_column)
    prints = {
        "model": fingerprint.model_fingerprint(spec, model_source),
        "prompt": fingerprint.prompt_fingerprint(spec, system_prompt),
        "schema": record_schema.fingerprint,
        "sampling": fingerprint.sampling_fingerprint(spec),
    }
    prints["job"] = fingerprint.job_fingerprint(**prints)
    return ResolvedJob(
        spec=spec, record_schema=record_schema, system_prompt=system_prompt, model_source=model_source,
        input_fs=fs, files=files, units=plan_units(files, spec.output.unit_rows, prints["job"]),
        id_field=columns.field(spec.input.id_column), fingerprints=prints,
        read_columns=read_columns, read_schema=read_schema, listing_left_out=listed.left_out,
    )


def _load_schema(spec: JobSpec) -> RecordSchema:
    task = spec.task
    mode = MODES[task.mode]
    record_schema = mode.record_schema(task)  # label mode's synthesized one, a standalone summary's empty one
    if record_schema is None:
        try:
            record_schema = load_record_schema(task.schema_, allowed_modules=tuple(task.schema_modules))
            record_schema.arrow_schema  # noqa: B018 - refused here (with a JSON pointer), not in a writer
        except (SchemaLoadError, UnsupportedSchemaError) as err:
            raise JobSpecError(f"task.schema: {err}") from err
    if problem := mode.schema_problem(task, record_schema):
        raise JobSpecError(problem)
    if task.tool_name is None:  # no tool asked for (a standalone summary): no constraint
        return record_schema
    try:  # compiled as the engine will; a construct the backend refuses is named by its pointer
        return compile_record_constraint(record_schema, tool_name=task.tool_name)
    except UnsupportedSchemaError as err:
        raise JobSpecError(f"task.schema: {err}") from err


def _resolve_model(source: str) -> str:
    """Local folders become absolute (Ray workers do not share the driver's cwd)."""
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise JobSpecError(f"model.source: {source} has no config.json: not a model folder")
        return str(path.resolve())
    looks_local = source.startswith((".", "/", "~")) or source.count("/") != 1 or Path(source.split("/")[0]).is_dir()
    if looks_local:
        raise JobSpecError(f"model.source: no model folder at {source} (write the demo model with `k2batch testmodel {source}`)")
    return source  # a hub id, fetched by the engine
