"""Run a job: records and rejects as Parquet, and summary.json, under output.uri."""

import json
import sys

from jobs import exit_codes
from jobs.errors import describe
from jobs.spec import load_job


def add_arguments(parser) -> None:
    parser.add_argument("job", help="the job spec (YAML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a spec field, e.g. --set model.tensor_parallel_size=2")


def run(args) -> int:
    from jobs.run import run_job

    try:
        summary = run_job(load_job(args.job, args.overrides))
    except Exception as err:  # every failure becomes one line and an exit code
        message, code = describe(err)
        print(f"k2batch: error: {message}", file=sys.stderr)
        return code
    print(
        f"{summary['name']}: {summary['input_rows']} rows -> {summary['records']} records, {summary['rejects']} rejects "
        f"in {summary['wall_seconds']:.1f} s; outputs under {summary['output']['records'].rsplit('/', 2)[0]}/",
        file=sys.stderr,
    )
    print(json.dumps(summary, sort_keys=True))  # one line for log scrapers
    return exit_codes.OK
