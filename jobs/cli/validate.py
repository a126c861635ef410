"""Check a job spec without starting Ray or an engine; with --address, also that the
replicas a run starts with fit that cluster (jobs/plan/replica_fit.py), as `submit` checks."""

import sys

from jobs import exit_codes
from jobs.cli.errors import fail_with
from jobs.cli.job_arguments import add_job_arguments, load_then


def add_arguments(parser) -> None:
    add_job_arguments(parser)
    parser.add_argument("--address", default=None,
                        help="a Ray cluster's job server (e.g. http://HEAD:8265): also check that one replica fits a node "
                             "and that the cluster holds the replicas the run starts with (model.replicas, its min)")


def run(args) -> int:
    from jobs.plan.resolve import resolve_job

    outcome = load_then(args, lambda job: resolve_job(job.spec))
    if isinstance(outcome, int):
        return outcome
    job, resolved = outcome
    if args.address:
        from jobs.cluster.submission import cluster_nodes
        from jobs.plan.replica_fit import replica_fit_warning

        try:
            warning = replica_fit_warning(job.spec, cluster_nodes(args.address), args.address)
        except Exception as err:  # a replica no node holds (exit 2), an unreachable cluster (exit 4)
            return fail_with(err)
        if warning:
            print(f"k2batch: warning: {warning}", file=sys.stderr)
    print(f"{args.job}: ok ({len(resolved.files)} input file(s), {resolved.input_rows} rows in {len(resolved.units)} "
          f"unit(s), job fingerprint {resolved.fingerprints['job']}, run id {job.run_id})")
    return exit_codes.OK
