"""The arguments every command that reads a job spec shares: the spec, `--set`,
`--param`, and the run id they imply. Not a command itself."""

import sys
from dataclasses import dataclass
from pathlib import Path

from jobs.spec.params import default_run_id, parse_params
from jobs.spec import JobSpec, parse_job


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


def load_job_arguments(args) -> LoadedJob:
    """Raises on any spec problem; the caller reports it as a spec error (exit 2)."""
    params = parse_params(args.params)
    text = sys.stdin.read() if args.job == "-" else Path(args.job).read_text()
    spec = parse_job(text, args.overrides, params, source=args.job)
    return LoadedJob(spec=spec, text=text, params=params, run_id=args.run_id or default_run_id(spec.name, params))
