"""The arguments every command that reads a job spec shares: the spec, `--set`,
`--param`, and the run id they imply. Not a command itself."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from jobs.spec.params import default_run_id, parse_params
from jobs.cli.errors import fail_with
from jobs.spec import JobSpec, parse_job

T = TypeVar("T")


@dataclass
class LoadedJob:
    spec: JobSpec
    text: str  # the spec as written, before --set and --param
    params: dict[str, str]
    run_id: str


def add_job_arguments(parser) -> None:
    parser.add_argument("job", help="the job spec (YAML); - reads it from stdin")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a spec field, e.g. --set model.tensor_parallel_size=2")
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                        help="fill {NAME} in input.uri and output.uri, e.g. --param ds=2026-11-26")
    parser.add_argument("--run-id", default=None,
                        help="the run's id in summary.json; default: the job name plus the parameters")


def add_verbose_argument(parser) -> None:
    parser.add_argument("--verbose", action="store_true",
                        help="vLLM's, Ray's and k2batch's logs on the terminal instead of the run's log file "
                             "(also: K2BATCH_LOG_LEVEL=debug)")


def is_verbose(args) -> bool:
    return bool(getattr(args, "verbose", False)) or os.environ.get("K2BATCH_LOG_LEVEL", "").lower() == "debug"


def load_job_arguments(args) -> LoadedJob:
    """Raises on any spec problem; the caller reports it as a spec error (exit 2)."""
    params = parse_params(args.params)
    text = sys.stdin.read() if args.job == "-" else Path(args.job).read_text()
    spec = parse_job(text, args.overrides, params, source=args.job)
    return LoadedJob(spec=spec, text=text, params=params, run_id=args.run_id or default_run_id(spec.name, params))


def load_then(args, step: Callable[[LoadedJob], T]) -> tuple[LoadedJob, T] | int:
    """Load the job (any failure is the spec's: exit 2), then `step` on it; either
    failure is reported in one line and its exit code returned instead."""
    try:
        job = load_job_arguments(args)
    except Exception as err:  # every failure becomes one line and an exit code
        return fail_with(err, reading_spec=True)
    try:
        return job, step(job)
    except Exception as err:
        return fail_with(err)
