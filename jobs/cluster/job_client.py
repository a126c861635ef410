"""Talking to a Ray cluster's job server: connect, and follow a job to its end."""

import asyncio
import re
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


# A job's log holds, before the entrypoint's own output, the job manager's lines and the
# runtime env's setup, ended by the supervisor's "Running entrypoint for job ...: ..."
# line; after it, the job manager logs lines such as
# "2026-12-03 08:58:29,300\tINFO job_manager.py:581 -- ...".
ENTRYPOINT_LINE = re.compile(r"^Running entrypoint for job \S+: ")
JOB_MANAGER_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+[A-Z]+ job_manager\.py:\d+ -- ")


class JobOutput:
    """Whole lines of a job's log stream (its chunks split lines anywhere): unless
    `everything`, only the entrypoint's own output, not the cluster's."""

    def __init__(self, *, everything: bool = False):
        self.everything = everything
        self.started = False  # the entrypoint's output has begun
        self.pending = ""

    def feed(self, chunk: str) -> list[str]:
        *lines, self.pending = (self.pending + chunk).split("\n")
        return [f"{line}\n" for line in lines if self._keep(line)]

    def end(self) -> list[str]:
        rest, self.pending = self.pending, ""
        return [rest] if rest and self._keep(rest) else []

    def _keep(self, line: str) -> bool:
        if self.everything:
            return True
        if not self.started:
            self.started = bool(ENTRYPOINT_LINE.match(line))
            return False
        return not JOB_MANAGER_LINE.match(line)


def wait_for(client, submission_id: str, *, everything: bool = False) -> int:
    """Stream the job's output to stdout until it ends (`everything`: Ray's job manager
    lines too); its summary line stays the last one."""
    output = JobOutput(everything=everything)

    async def tail() -> None:
        async for chunk in client.tail_job_logs(submission_id):
            sys.stdout.writelines(output.feed(chunk))
            sys.stdout.flush()
        sys.stdout.writelines(output.end())
        sys.stdout.flush()

    asyncio.run(tail())
    # The log stream closes as the job ends; its final status may land a moment later.
    while not client.get_job_status(submission_id).is_terminal():
        time.sleep(0.5)
    info = client.get_job_info(submission_id)
    code = exit_code_of(str(info.status.value), info.driver_exit_code)
    # A job whose entrypoint never ran (a runtime env that failed to set up) or was
    # killed says why only in the job's status message.
    why = f": {info.message}" if code and info.driver_exit_code is None and info.message else ""
    print(f"k2batch: job {submission_id} {info.status.value} (exit code {code}){why}", file=sys.stderr)
    return code
