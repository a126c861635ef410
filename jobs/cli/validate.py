"""Check a job spec without starting Ray or an engine."""

from jobs import exit_codes
from jobs.cli.errors import fail_with
from jobs.cli.job_arguments import add_job_arguments, load_job_arguments


def add_arguments(parser) -> None:
    add_job_arguments(parser)


def run(args) -> int:
    from jobs.plan.resolve import resolve_job

    try:
        job = load_job_arguments(args)
    except Exception as err:  # every failure becomes one line and an exit code
        return fail_with(err, reading_spec=True)
    try:
        resolved = resolve_job(job.spec)
    except Exception as err:
        return fail_with(err)
    rows = sum(u.rows for u in resolved.units)
    print(f"{args.job}: ok ({len(resolved.units)} input file(s), {rows} rows, job fingerprint {resolved.fingerprints['job']}, "
          f"run id {job.run_id})")
    return exit_codes.OK
