"""The job's side of the constraint compile (schemas/constraint_compile.py): a schema the
backend cannot compile, or not within the time limit, is a spec error on `task.schema`."""

from jobs.spec.errors import JobSpecError
from schemas.constraint_compile import COMPILE_TIME_LIMIT_S, compile_record_constraint
from schemas.record_schema import RecordSchema
from schemas.schema_error import UnsupportedSchemaError


def check_constraint(record_schema: RecordSchema, *, tool_name: str, time_limit: float = COMPILE_TIME_LIMIT_S) -> RecordSchema:
    """`record_schema` once its tool-call constraint compiles the way the engine will
    compile it (a keyword validation enforces anyway may be left out of the grammar); a
    JobSpecError naming the JSON pointer of the construct otherwise."""
    try:
        return compile_record_constraint(record_schema, tool_name=tool_name, time_limit=time_limit)
    except UnsupportedSchemaError as err:
        raise JobSpecError(f"task.schema: {err}") from err
