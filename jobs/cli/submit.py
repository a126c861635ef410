"""Submit a job to a Ray cluster's job server; --wait streams its logs and exits with its code.

The cluster runs `k2batch run` on the same spec (jobs/cluster/submission.py has the details).
"""

import sys

from jobs import exit_codes
from jobs.cli.errors import fail, fail_with
from jobs.cli.job_arguments import add_job_arguments, add_verbose_argument, is_verbose, load_job_arguments


def add_arguments(parser) -> None:
    add_job_arguments(parser)
    add_verbose_argument(parser)
    add_address_argument(parser)
    parser.add_argument("--wait", action="store_true", help="stream the job's logs and exit with its exit code")
    parser.add_argument("--pip", action="append", default=[], metavar="REQUIREMENT",
                        help="install a package into the job's runtime env (only what the cluster's image lacks)")


def add_address_argument(parser) -> None:
    parser.add_argument("--address", default=None,
                        help="the Ray job server, e.g. http://HEAD:8265; default: RAY_API_SERVER_ADDRESS or "
                             "RAY_ADDRESS if it is an http URL, else http://127.0.0.1:8265")


def run(args) -> int:
    from jobs.cluster import submission
    from jobs.cluster.job_client import connect, wait_for
    from jobs.plan.replica_fit import replica_fit_warning

    try:
        job = load_job_arguments(args)
        submission.check_paths_travel(job.spec)
        env = submission.runtime_env(job.text, pip=args.pip, drain_timeout_s=job.spec.model.drain_timeout_s)
    except Exception as err:  # every failure becomes one line and an exit code
        return fail_with(err, reading_spec=True)
    address = submission.job_server_address(args.address)
    try:
        client = connect(address)
        warning = replica_fit_warning(job.spec, submission.cluster_nodes(address), address)
        if warning:
            print(f"k2batch: warning: {warning}", file=sys.stderr)
        submission_id = client.submit_job(
            entrypoint=submission.entrypoint(overrides=args.overrides, params=job.params, run_id=args.run_id,
                                             verbose=is_verbose(args)),
            runtime_env=env,
            metadata={"k2batch_job": job.spec.name, "k2batch_run_id": job.run_id},
        )
    except Exception as err:
        return fail_with(err)
    print(submission_id, flush=True)
    print(f"k2batch: submitted {job.run_id} to {address} as {submission_id}", file=sys.stderr)
    if not args.wait:
        return exit_codes.OK
    return wait_for(client, submission_id, everything=is_verbose(args))


def fail_for_job(err: Exception, submission_id: str, address: str) -> int:
    """`status`/`logs` errors: an unknown id is the caller's mistake, the rest infrastructure."""
    if isinstance(err, RuntimeError) and "status code 404" in str(err):  # how the job client reports it
        return fail(f"no job {submission_id} on the cluster at {address}", exit_codes.SPEC_ERROR)
    return fail_with(err)
