"""Check a job spec without starting Ray or an engine."""

import sys

from jobs import exit_codes
from jobs.commands.job_arguments import add_job_arguments, load_job_arguments
from jobs.errors import describe, describe_spec_error


def add_arguments(parser) -> None:
    add_job_arguments(parser)


def run(args) -> int:
    from jobs.check_job import check_job

    try:
        job = load_job_arguments(args)
    except Exception as err:  # every failure becomes one line and an exit code
        message, code = describe_spec_error(err)
        print(f"k2batch: error: {message}", file=sys.stderr)
        return code
    try:
        checked = check_job(job.spec)
    except Exception as err:
        message, code = describe(err)
        print(f"k2batch: error: {message}", file=sys.stderr)
        return code
    rows = sum(u.rows for u in checked.units)
    print(f"{args.job}: ok ({len(checked.units)} input file(s), {rows} rows, job fingerprint {checked.fingerprints['job']}, "
          f"run id {job.run_id})")
    return exit_codes.OK
