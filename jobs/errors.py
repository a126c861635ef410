"""Turn exceptions into one clear line and an exit code, at the CLI boundary."""

from pydantic import ValidationError

from jobs import exit_codes
from jobs.check_job import JobSpecError
from jobs.input_units import InputError
from jobs.output_store import OutputConflictError
from schemas.record_schema import SchemaLoadError

SPEC_ERRORS = (JobSpecError, InputError, OutputConflictError, SchemaLoadError, FileNotFoundError)


def describe(err: BaseException) -> tuple[str, int]:
    if isinstance(err, ValidationError):
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
        return "invalid job spec: " + "; ".join(lines), exit_codes.SPEC_ERROR
    if isinstance(err, SPEC_ERRORS):
        return str(err), exit_codes.SPEC_ERROR
    return f"{type(err).__name__}: {err}", exit_codes.INFRASTRUCTURE_ERROR
