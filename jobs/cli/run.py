"""Run a job: records and rejects as Parquet, and summary.json, under output.uri."""

import sys

from jobs import exit_codes
from jobs.cli.errors import fail
from jobs.cli.job_arguments import add_job_arguments, add_verbose_argument, is_verbose, load_then
from jobs.storage.redact import redact


def add_arguments(parser) -> None:
    add_job_arguments(parser)
    add_verbose_argument(parser)
    parser.add_argument("--retry-rejects", action="store_true",
                        help="run only the committed rejects again, with the spec as given now (README: Retrying rejects)")
    parser.add_argument("--reason", dest="reasons", action="append", default=[], metavar="REASON",
                        help="with --retry-rejects: only rejects of this reason (repeatable), e.g. --reason truncated")


def run(args) -> int:
    from jobs.driver.run import run_job

    if args.reasons and not args.retry_rejects:
        return fail("--reason needs --retry-rejects", exit_codes.SPEC_ERROR)
    outcome = load_then(args, lambda job: run_job(job.spec, run_id=job.run_id, verbose=is_verbose(args),
                                                  retry_rejects=args.retry_rejects, reasons=args.reasons))
    if isinstance(outcome, int):
        return outcome
    job, summary = outcome
    output = redact(job.spec.output.uri.rstrip("/"))
    report = f"; report: {output}/{summary.report}" if summary.report else ""
    print(
        f"{summary.name}: {summary.input_rows} rows -> {summary.records} records, {summary.rejects} rejects "
        f"in {summary.wall_seconds:.1f} s; outputs under {output}/{report}",
        file=sys.stderr,
    )
    code = exit_codes.OK
    limit = job.spec.output.max_reject_rate
    rate = summary.rejects / summary.input_rows if summary.input_rows else 0.0
    if rate > limit:
        code = fail(f"reject rate {rate:.1%} ({summary.rejects} of {summary.input_rows} rows) exceeds "
                    f"output.max_reject_rate {limit:.1%}; see reject_reasons in summary.json", exit_codes.REJECT_RATE_EXCEEDED)
    print(summary.to_line(), flush=True)  # the last stdout line, for log scrapers
    return code

