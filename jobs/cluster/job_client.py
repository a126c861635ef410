"""Talking to a Ray cluster's job server: connect, and follow a job to its end."""

import asyncio
import sys
import time

from jobs.cluster.auth import auth_headers, refused
from jobs.cluster.submission import exit_code_of


def connect(address: str):
    """A job client for the cluster, with its token when the server asks for one
    (jobs/cluster/auth.py); an unreachable server is an infrastructure error."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    headers, source = auth_headers(address)
    try:
        return JobSubmissionClient(address, headers=headers or None)
    except AuthenticationError as err:
        raise refused(address, source) from err
    except ConnectionError as err:
        raise ConnectionError(f"cannot reach the Ray job server at {address}: {err}") from err


def wait_for(client, submission_id: str) -> int:
    """Stream the job's logs to stdout until it ends; its summary line stays the last one."""
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
