"""Check a job spec without starting Ray or an engine."""

from jobs import exit_codes
from jobs.cli.job_arguments import add_job_arguments, load_then


def add_arguments(parser) -> None:
    add_job_arguments(parser)


def run(args) -> int:
    from jobs.plan.resolve import resolve_job

    outcome = load_then(args, lambda job: resolve_job(job.spec))
    if isinstance(outcome, int):
        return outcome
    job, resolved = outcome
    print(f"{args.job}: ok ({len(resolved.files)} input file(s), {resolved.input_rows} rows in {len(resolved.units)} "
          f"unit(s), job fingerprint {resolved.fingerprints['job']}, run id {job.run_id})")
    return exit_codes.OK
