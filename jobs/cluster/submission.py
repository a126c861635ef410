"""Submitting a job to a Ray cluster: the job server's address, the runtime
environment (the repository as working_dir), the checks that must pass before
anything is uploaded, and the job's final status as one of our exit codes.

The submitted entrypoint is `python -m jobs.cli run - ...`, the same code path as a
local run, after `python -m jobs.cluster.dependency_check`, which ends the job in one line
(exit 2) if the cluster's `python` lacks k2batch's dependencies. Ray's job supervisor sets
RAY_ADDRESS for the entrypoint, and jobs/driver/run.py joins that cluster instead of
starting one (jobs/driver/ray_session.py). The spec travels as text in the runtime
environment (K2BATCH_JOB_SPEC), so a spec kept outside the repository works too.
"""

import math
import os
import shlex
from pathlib import Path

from jobs import exit_codes
from jobs.cluster.auth import auth_headers, refused
from jobs.plan.replica_fit import NodeCapacity
from jobs.spec import JobSpec, JobSpecError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
SPEC_ENV_VAR = "K2BATCH_JOB_SPEC"
DEPENDENCY_CHECK = "jobs.cluster.dependency_check"  # the job's first step
# Never uploaded: environments, weights, data and results are large, and a cluster
# has its own. Anchored at the repository root ("/data/" is not "tests/data/"); "/.git"
# without a slash: in a git worktree it is a file.
UPLOAD_EXCLUDES = [
    "/.git", "/.venv/", "/venv/", "/models/", "/data/", "/out/", "/build/", "*.egg-info/",
    "__pycache__/", ".pytest_cache/", ".hypothesis/",
]
LOCAL_ONLY_FOLDERS = ("models", "data", "out")
STOP_MARGIN_S = 30  # after a drain: stopping the flow, removing staged files, copying the run's log


def job_server_address(address: str | None) -> str:
    """--address, else RAY_API_SERVER_ADDRESS or RAY_ADDRESS (when it is an http URL), else the local default."""
    if address:
        return address
    for name in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            return value
    return DEFAULT_ADDRESS


def repository_root() -> Path:
    """The source checkout this code runs from: what gets uploaded as working_dir."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists() or not (root / "jobs" / "cli" / "__init__.py").exists():
        raise JobSpecError(f"k2batch submit uploads its source checkout, but {root} is not one; run it from a clone")
    return root


def runtime_env(spec_text: str, *, pip: list[str] = (), drain_timeout_s: float = 60.0) -> dict:
    """working_dir = the repository; the spec as an env var; pip packages only when
    the cluster's image lacks them (each node then installs them per job).

    `ray job stop` sends the job's driver SIGTERM, which drains the run
    (jobs/driver/drain.py), then SIGKILL after RAY_JOB_STOP_WAIT_TIME_S (Ray's default
    3 s): Ray's job supervisor takes it from the job's env_vars, so a job gets its drain
    time plus the driver's own ending (staging removed, logs copied)."""
    env = {
        "working_dir": str(repository_root()),
        "excludes": UPLOAD_EXCLUDES,
        "env_vars": {SPEC_ENV_VAR: spec_text, "RAY_JOB_STOP_WAIT_TIME_S": str(math.ceil(drain_timeout_s) + STOP_MARGIN_S)},
    }
    if pip:
        env["pip"] = list(pip)
    return env


def entrypoint(*, overrides: list[str], params: dict[str, str], run_id: str | None, verbose: bool = False) -> str:
    """The shell command the cluster runs: first the dependency check (standard library
    only, so it runs where k2batch's imports would fail), then `k2batch run`; every
    --set/--param is passed on unchanged so the cluster loads exactly the spec the client
    checked. `verbose`: the job's log (vLLM's, Ray's) in the job's output instead of its log file."""
    args = ["python", "-m", "jobs.cli", "run", "-"]
    for override in overrides:
        args += ["--set", override]
    for name, value in params.items():
        args += ["--param", f"{name}={value}"]
    if run_id:
        args += ["--run-id", run_id]
    if verbose:
        args.append("--verbose")
    return f'python -m {DEPENDENCY_CHECK} && printf "%s" "${SPEC_ENV_VAR}" | ' + shlex.join(args)


def check_paths_travel(spec: JobSpec) -> None:
    """A submitted job runs in a temporary copy of the repository without models/,
    data/ or out/: relative paths there would not exist, and a relative output would
    vanish with the copy. Refuse them before uploading anything."""
    paths = {"input.uri": spec.input.uri, "model.source": spec.model.source}
    for field, value in paths.items():
        if _is_relative_local(value) and Path(value).parts[0] in LOCAL_ONLY_FOLDERS:
            raise JobSpecError(
                f"{field}: {value} is under {Path(value).parts[0]}/, which is not uploaded with a submitted job; "
                "use an absolute path every node can read, or an object-store URI"
            )
    if _is_relative_local(spec.output.uri):
        raise JobSpecError(
            f"output.uri: {spec.output.uri} is relative, so a submitted job would write it into its temporary copy "
            "of the repository; use an absolute path on storage the nodes share, or an object-store URI"
        )


def _is_relative_local(uri: str) -> bool:
    return "://" not in uri and not uri.startswith(("/", "~"))


def cluster_nodes(address: str) -> list[NodeCapacity]:
    """The alive nodes and their total resources, from the dashboard's state API."""
    from ray.exceptions import AuthenticationError
    from ray.util.state import StateApiClient
    from ray.util.state.common import ListApiOptions, StateResource

    headers, source = auth_headers(address)
    try:
        client = StateApiClient(address=address, headers={"Content-Type": "application/json", **headers})
        listed = client.list(StateResource.NODES, options=ListApiOptions(detail=True), raise_on_missing_output=True)
    except AuthenticationError as err:
        raise refused(address, source) from err
    nodes = [
        NodeCapacity(node_id=n.node_id, cpus=n.resources_total.get("CPU", 0.0), gpus=n.resources_total.get("GPU", 0.0))
        for n in listed
        if n.state == "ALIVE"
    ]
    if not nodes:  # a head still starting, or a cluster that lost its nodes: retry later
        raise ConnectionError(f"the Ray cluster at {address} reports no alive nodes")
    return nodes


def exit_code_of(status: str, driver_exit_code: int | None) -> int:
    """A finished job's status as a scheduler reads our exit codes: the entrypoint's own
    code when it is one of ours, infrastructure error for anything else (stopped,
    killed, runtime env setup failed)."""
    if status == "SUCCEEDED":
        return exit_codes.OK
    if status == "FAILED" and driver_exit_code in exit_codes.JOB_CODES:
        return driver_exit_code
    return exit_codes.INFRASTRUCTURE_ERROR
