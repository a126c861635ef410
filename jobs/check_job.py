"""Everything that can be checked before a Ray worker or an engine starts.

`k2batch validate` runs only this; `k2batch run` runs it first. Each error names the
spec field to fix.
"""

import json
import multiprocessing
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from jobs import fingerprint
from jobs.input_units import Unit, check_ids, filesystem_for, list_parquet_files, plan_units
from jobs.spec import JobSpec
from operators.render_prompt import render_system_prompt
from schemas.arrow_types import UnsupportedSchemaError
from schemas.labels import label_field_error, label_record_schema
from schemas.record_schema import RecordSchema, SchemaLoadError, load_record_schema
from schemas.tool_call import tool_call_json_schema, tool_definition


class JobSpecError(ValueError):
    """The spec cannot run as written; the message names the field."""


@dataclass
class CheckedJob:
    spec: JobSpec
    record_schema: RecordSchema
    system_prompt: str
    model_source: str
    input_fs: object
    input_files: list[str]
    units: list[Unit]
    id_field: pa.Field
    fingerprints: dict[str, str]
    read_schema: pa.Schema | None = None


def check_job(spec: JobSpec) -> CheckedJob:
    record_schema = _load_schema(spec)
    tools = [tool_definition(name=spec.task.tool_name, description=spec.task.tool_description, parameters=record_schema.json_schema)]
    system_prompt = render_system_prompt(tools if spec.task.tool_name else [], spec.task.system_prompt)
    model_source = _resolve_model(spec.model.source)
    fs, path = filesystem_for(spec.input.uri, spec.input.storage_options)
    files = list_parquet_files(fs, path, spec.input.uri)
    units = plan_units(fs, files)  # one footer read per file gives its rows and its schema
    columns = units[0].schema
    needed = {"input.id_column": [spec.input.id_column], "task.prompt": spec.task.prompt_columns,
              "task.response_column": [spec.task.response_column] if spec.task.response_column else []}
    for field, names in needed.items():
        absent = [n for n in names if n not in columns.names]
        if absent:
            raise JobSpecError(f"{field}: column(s) {absent} are not in the input (it has {columns.names})")
    read_columns = [name for names in needed.values() for name in names]
    read_schema = unified_read_schema({u.path: u.schema for u in units}, read_columns, spec.input.id_column)
    check_ids(fs, files, spec.input.id_column)
    prints = {
        "model": fingerprint.model_fingerprint(spec, model_source),
        "prompt": fingerprint.prompt_fingerprint(spec, system_prompt),
        "schema": record_schema.fingerprint,
        "sampling": fingerprint.sampling_fingerprint(spec),
    }
    prints["job"] = fingerprint.job_fingerprint(**prints)
    return CheckedJob(
        spec=spec, record_schema=record_schema, system_prompt=system_prompt, model_source=model_source,
        input_fs=fs, input_files=files, units=units, id_field=columns.field(spec.input.id_column), fingerprints=prints,
        read_schema=read_schema,
    )


def unified_read_schema(schemas: dict[str, pa.Schema], names: list[str], id_column: str) -> pa.Schema:
    """One type per column read. Files written at different times may disagree on a text
    column (strings in one, numbers in another): such a column is read as text, since it
    only fills the prompt. The id column must agree, or ids would not compare."""
    seen: dict[str, dict[pa.DataType, str]] = {n: {} for n in names}  # column -> type -> first file with it
    for path, schema in schemas.items():
        for name in names:
            if name not in schema.names:
                raise JobSpecError(f"input: {path} has no column {name!r}, which the spec reads")
            seen[name].setdefault(schema.field(name).type, path)
    fields = []
    for name in names:
        types = list(seen[name].items())
        if len(types) > 1 and name == id_column:
            (type_a, file_a), (type_b, file_b) = types[:2]
            raise JobSpecError(f"input.id_column: {name} is {type_a} in {file_a} but {type_b} in {file_b}")
        fields.append(pa.field(name, types[0][0] if len(types) == 1 else pa.string()))
    return pa.schema(fields)


def _load_schema(spec: JobSpec) -> RecordSchema:
    task = spec.task
    if task.labels:  # label mode: the schema is synthesized from the label set
        record_schema = label_record_schema(task.labels, rationale=task.rationale)
    elif task.schema_ is None:  # a standalone summary: no extracted fields, no tool, no constraint
        return RecordSchema(json_schema={"type": "object", "properties": {}}, source="none")
    else:
        try:
            record_schema = load_record_schema(task.schema_, allowed_modules=tuple(task.schema_modules))
            record_schema.arrow_schema  # noqa: B018 - fails here, not in a writer, if a field has no Arrow type
        except (SchemaLoadError, UnsupportedSchemaError) as err:
            raise JobSpecError(f"task.schema: {err}") from err
    if task.label_field and (problem := label_field_error(record_schema, task.label_field)):
        raise JobSpecError(f"task.label_field: {problem}")
    compile_constraint(tool_call_json_schema(name=spec.task.tool_name, parameters=record_schema.json_schema))
    return record_schema


COMPILE_TIME_LIMIT_S = 30.0


def compile_constraint(schema: dict, time_limit: float = COMPILE_TIME_LIMIT_S) -> None:
    """Compile the decoding constraint the way the engine will (xgrammar, no free
    whitespace), in a child process so that a schema that makes the compiler run away
    ends in an error instead of a hang."""
    parent, child = multiprocessing.get_context("fork").Pipe(duplex=False)
    process = multiprocessing.get_context("fork").Process(target=_compile_in_child, args=(json.dumps(schema), child), daemon=True)
    process.start()
    child.close()
    if not parent.poll(time_limit):
        process.kill()
        raise JobSpecError(f"task.schema: the structured-output backend did not compile it within {time_limit:.0f} s; simplify the schema")
    error = parent.recv()
    process.join()
    if error:
        reason = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", error.strip().splitlines()[0])  # drop the C++ location
        raise JobSpecError(f"task.schema: the structured-output backend (xgrammar) cannot compile it: {reason}")


def _compile_in_child(schema_json: str, conn) -> None:
    import xgrammar

    try:
        xgrammar.Grammar.from_json_schema(schema_json, any_whitespace=False)
        conn.send("")
    except Exception as err:  # xgrammar raises RuntimeError/ValueError variants
        conn.send(str(err) or type(err).__name__)


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
