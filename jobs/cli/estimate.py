"""Estimate a job's tokens, rejects and engine time from a random sample, writing nothing under output.uri."""

import sys
from pathlib import Path

from jobs.cli.job_arguments import add_job_arguments, add_verbose_argument, is_verbose, load_then


def add_arguments(parser) -> None:
    from jobs.driver.estimate import DEFAULT_SAMPLE

    add_job_arguments(parser)
    add_verbose_argument(parser)
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N", help=f"rows to answer (default {DEFAULT_SAMPLE})")
    parser.add_argument("--seed", type=int, default=0, help="the sample's random seed (default 0)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="where to write the projections as JSON (default: ./<job name>.estimate.json)")


def run(args) -> int:
    from jobs.driver.estimate import estimate_job

    def estimate(job):
        out = Path(args.out or f"{job.spec.name}.estimate.json")
        return out, estimate_job(job.spec, sample=args.sample, seed=args.seed,
                                 log_file=None if is_verbose(args) else out.with_suffix(".log"))

    outcome = load_then(args, estimate)
    if isinstance(outcome, int):
        return outcome
    job, (out, estimate) = outcome
    out.write_text(estimate.to_json(indent=2) + "\n")
    print("\n".join([*estimate.lines(), f"written to {out}; logs: {out.with_suffix('.log')}"]), file=sys.stderr)
    print(estimate.to_json(), flush=True)  # the last stdout line, as `run` prints its summary
    return 0
