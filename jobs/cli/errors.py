"""Turn exceptions into one clear line and an exit code, at the CLI boundary: every
command reports a failure through `fail` (`k2batch: error: ...` on stderr)."""

import re
import sys

from pydantic import ValidationError

from jobs import exit_codes
from jobs.cluster.auth import ClusterAuthError
from jobs.devtools.evaluate import GoldError
from jobs.driver.drain import RunStopped
from jobs.watch.run_files import LOG_NOTE
from jobs.watch.stall_guard import StallError
from jobs.plan.input_files import InputError
from jobs.spec import JobSpecError
from jobs.spec.params import ParamError
from jobs.storage.output_store import OutputConflictError
from jobs.storage.redact import redact
from jobs.storage.request_retries import StorageError
from schemas.record_schema import SchemaLoadError

# StorageError: no such bucket, access denied, no credentials; ClusterAuthError: no or a
# wrong Ray token. Retrying will not help.
SPEC_ERRORS = (
    JobSpecError, InputError, OutputConflictError, SchemaLoadError, StorageError, FileNotFoundError, ParamError,
    ClusterAuthError,
)


def fail(message: str, code: int) -> int:
    """Print the one error line and return the exit code to end with."""
    print(f"k2batch: error: {message}", file=sys.stderr)
    return code


def fail_with(err: BaseException, *, reading_spec: bool = False) -> int:
    """`fail` for an exception; `reading_spec`: it came from reading the spec (always exit 2)."""
    return fail(*(describe_spec_error(err) if reading_spec else error_message(err)))


def error_message(err: BaseException) -> tuple[str, int]:
    """One line and an exit code; storage secrets masked, whatever library wrote the message.
    An infrastructure failure of a run names the run's log file (jobs/driver/run.py adds it)."""
    message, code = _describe(err)
    log = next((n[len(LOG_NOTE):] for n in getattr(err, "__notes__", ()) if n.startswith(LOG_NOTE)), None)
    if log and code == exit_codes.INFRASTRUCTURE_ERROR:
        message += f"; the run's log: {log}"
    return redact(message), code


def describe_spec_error(err: BaseException) -> tuple[str, int]:
    """A failure while reading, overriding or validating the spec file is always the
    spec's (or its path's): exit 2, whatever exception type the YAML parser raised."""
    message, code = error_message(err)
    if code != exit_codes.SPEC_ERROR:
        message = redact(" ".join(str(err).split()))  # YAML errors span lines
    return message, exit_codes.SPEC_ERROR


def _describe(err: BaseException) -> tuple[str, int]:
    if isinstance(err, ValidationError):
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
        return "invalid job spec: " + "; ".join(lines), exit_codes.SPEC_ERROR
    if isinstance(err, GoldError):
        return f"--gold: {err}", exit_codes.SPEC_ERROR
    if isinstance(err, SPEC_ERRORS):
        return str(err), exit_codes.SPEC_ERROR
    if isinstance(err, (StallError, RunStopped)):
        return str(err), exit_codes.INFRASTRUCTURE_ERROR
    if _is_engine_start_failure(err):
        return (
            f"the vLLM engine failed to start: {_last_line(err)} (the engine's log has the root cause)",
            exit_codes.INFRASTRUCTURE_ERROR,
        )
    return f"{type(err).__name__}: {_last_line(err) if _is_ray_error(err) else _first_line(err)}", exit_codes.INFRASTRUCTURE_ERROR


def _is_ray_error(err: BaseException) -> bool:
    return type(err).__module__.startswith("ray.")


def _is_engine_start_failure(err: BaseException) -> bool:
    """Ray Data stops the job when an engine actor's constructor raises."""
    text = str(err)
    return _is_ray_error(err) and "K2Engine" in text and "creation task" in text


def _plain_lines(err: BaseException) -> list[str]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # Ray colours actor names
    return [line.strip() for line in text.splitlines() if line.strip()] or [type(err).__name__]


def _first_line(err: BaseException) -> str:
    return _plain_lines(err)[0]


def _last_line(err: BaseException) -> str:
    """Ray's errors end with the remote exception itself, after the remote traceback."""
    return _plain_lines(err)[-1]
