"""Submit a job to a Ray cluster's job server; --wait streams its logs and exits with its code.

The cluster runs `k2batch run` on the same spec (jobs/submission.py has the details).
"""

import asyncio
import sys
import time

from jobs import exit_codes
from jobs.commands.job_arguments import add_job_arguments, load_job_arguments
from jobs.errors import describe, describe_spec_error


def add_arguments(parser) -> None:
    add_job_arguments(parser)
    add_address_argument(parser)
    parser.add_argument("--wait", action="store_true", help="stream the job's logs and exit with its exit code")
    parser.add_argument("--pip", action="append", default=[], metavar="REQUIREMENT",
                        help="install a package into the job's runtime env (only what the cluster's image lacks)")


def add_address_argument(parser) -> None:
    parser.add_argument("--address", default=None,
                        help="the Ray job server, e.g. http://HEAD:8265; default: RAY_API_SERVER_ADDRESS or "
                             "RAY_ADDRESS if it is an http URL, else http://127.0.0.1:8265")


def run(args) -> int:
    from jobs import submission

    try:
        job = load_job_arguments(args)
        submission.check_paths_travel(job.spec)
        env = submission.runtime_env(job.text, pip=args.pip)
    except Exception as err:  # every failure becomes one line and an exit code
        return fail(*describe_spec_error(err))
    address = submission.job_server_address(args.address)
    try:
        client = connect(address)
        warning = submission.check_replicas_fit(job.spec, submission.cluster_nodes(address), address)
        if warning:
            print(f"k2batch: warning: {warning}", file=sys.stderr)
        submission_id = client.submit_job(
            entrypoint=submission.entrypoint(overrides=args.overrides, params=job.params, run_id=args.run_id),
            runtime_env=env,
            metadata={"k2batch_job": job.spec.name, "k2batch_run_id": job.run_id},
        )
    except Exception as err:
        return fail(*describe(err))
    print(submission_id, flush=True)
    print(f"k2batch: submitted {job.run_id} to {address} as {submission_id}", file=sys.stderr)
    if not args.wait:
        return exit_codes.OK
    return wait_for(client, submission_id)


def connect(address: str):
    """A job client for the cluster; an unreachable server is an infrastructure error."""
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except ConnectionError as err:
        raise ConnectionError(f"cannot reach the Ray job server at {address}: {err}") from err


def wait_for(client, submission_id: str) -> int:
    """Stream the job's logs to stdout until it ends; its summary line stays the last one."""
    from jobs.submission import exit_code_of

    async def tail() -> None:
        async for chunk in client.tail_job_logs(submission_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    asyncio.run(tail())
    # The log stream closes as the job ends; its final status may land a moment later.
    while not client.get_job_status(submission_id).is_terminal():
        time.sleep(0.5)
    info = client.get_job_info(submission_id)
    code = exit_code_of(str(info.status.value), info.driver_exit_code)
    print(f"k2batch: job {submission_id} {info.status.value} (exit code {code})", file=sys.stderr)
    return code


def fail_for_job(err: Exception, submission_id: str, address: str) -> int:
    """`status`/`logs` errors: an unknown id is the caller's mistake, the rest infrastructure."""
    if isinstance(err, RuntimeError) and "status code 404" in str(err):  # how the job client reports it
        return fail(f"no job {submission_id} on the cluster at {address}", exit_codes.SPEC_ERROR)
    return fail(*describe(err))


def fail(message: str, code: int) -> int:
    print(f"k2batch: error: {message}", file=sys.stderr)
    return code
