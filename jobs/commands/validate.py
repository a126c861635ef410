"""Check a job spec without starting Ray or an engine."""

import sys

from jobs import exit_codes
from jobs.errors import describe
from jobs.spec import load_job


def add_arguments(parser) -> None:
    parser.add_argument("job", help="the job spec (YAML)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")


def run(args) -> int:
    from jobs.check_job import check_job

    try:
        checked = check_job(load_job(args.job, args.overrides))
    except Exception as err:  # every failure becomes one line and an exit code
        message, code = describe(err)
        print(f"k2batch: error: {message}", file=sys.stderr)
        return code
    rows = sum(u.rows for u in checked.units)
    print(f"{args.job}: ok ({len(checked.units)} input file(s), {rows} rows, job fingerprint {checked.fingerprints['job']})")
    return exit_codes.OK
