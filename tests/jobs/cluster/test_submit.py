"""`k2batch submit/status/logs` against a real two-node Ray cluster started here, with
its job server on 127.0.0.1 and Ray's default authentication, as a user of a Ray
cluster runs them.

The head has no CPUs: the job's driver runs there, and its engine and Ray Data tasks on
the worker node, which `ray start --address` joins. Ray 2.60 turns token authentication
on for a head started where a token exists (RAY_AUTH_MODE unset); the token here is in
a file of this test, named by RAY_AUTH_TOKEN_PATH, never the user's ~/.ray/auth_token.

The cluster is isolated from other Ray instances on the machine: its own --temp-dir
(so its address never lands in /tmp/ray/ray_current_cluster, which a bare ray.init()
elsewhere would join), its own free ports, and teardown by its own process ids,
never `ray stop` (which stops every Ray process of the user on the machine).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from examples.news_sample import write_sample
from jobs.cluster.submission import entrypoint
from jobs.plan.replica_fit import ClusterFitError, NodeCapacity, replica_fit_warning
from jobs.spec import JobSpec
from pipelines.engine_actor import ENGINE_TASKS_PER_ACTOR
from tests.conftest import ROOT, job_spec, read_kind, write_job

VENV_BIN = Path(sys.executable).parent
TOKEN_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
WORKER_CPUS = 3  # one engine replica plus Ray Data's read and write tasks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**variables: str) -> dict:
    """This process's environment without any Ray address or token setting, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in (*TOKEN_VARIABLES, "RAY_ADDRESS")}
    return {**env, **variables}


@contextmanager
def client_environment(**variables: str):
    """os.environ as a client with `variables` has it (for this process's own clients)."""
    saved = {name: os.environ.get(name) for name in (*TOKEN_VARIABLES, *variables)}
    for name in TOKEN_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


@dataclass
class RayCluster:
    address: str  # the job server
    token: str
    token_path: Path
    head_node: str
    worker_node: str
    worker: subprocess.Popen  # `ray start --block` of the worker node
    metrics_url: str  # the head's Prometheus endpoint (Ray's metrics export port), where the job's driver runs

    def client_env(self, **variables: str) -> dict:
        """A client that finds the token through RAY_AUTH_TOKEN_PATH, unless `variables` say otherwise."""
        return clean_env(**{"RAY_AUTH_TOKEN_PATH": str(self.token_path), **variables})


def ray_start(args: list[str], env: dict, log: Path, temp_dir: str, metrics_port: int | None = None,
              ray: tuple[str, ...] = (str(VENV_BIN / "ray"),)) -> subprocess.Popen:
    """`ray start --block ARGS` (`ray`: the command that runs Ray's CLI) with ports of its own."""
    return subprocess.Popen(
        [*ray, "start", "--block", "--disable-usage-stats", f"--temp-dir={temp_dir}",
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={metrics_port or free_port()}", *args],
        env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, cwd=temp_dir,
    )


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """Yields the cluster once the job server answers and both nodes are alive."""
    # Short: Ray's socket paths must fit 107 bytes. One per node, as on two machines: nodes
    # sharing one would share their runtime_env folders, and one node's clean-up would
    # delete the submitted job's working_dir under the driver on the other.
    temp_dirs = [tempfile.mkdtemp(prefix="k2r", dir="/tmp") for _ in range(2)]
    token = secrets.token_hex(32)  # as `ray get-auth-token --generate` makes one
    token_path = tmp_path_factory.mktemp("ray-token") / "auth_token"
    token_path.write_text(token)
    gcs_port, dashboard_port, metrics_port = free_port(), free_port(), free_port()
    base = clean_env(
        # The entrypoint's `python` must be this venv's, as on a cluster whose image has k2batch's deps.
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",  # stop at once on SIGTERM
        RAY_AUTH_TOKEN_PATH=str(token_path),
    )
    logs = Path(temp_dirs[0])
    head = ray_start(["--head", f"--port={gcs_port}", f"--ray-client-server-port={free_port()}", "--dashboard-host=127.0.0.1",
                      f"--dashboard-port={dashboard_port}", "--include-dashboard=true", "--num-cpus=0"],
                     base, logs / "head.log", temp_dirs[0], metrics_port)  # RAY_AUTH_MODE unset: Ray's default
    address = f"http://127.0.0.1:{dashboard_port}"
    worker = None
    try:
        wait_for_nodes(address, 1, [(head, logs / "head.log")], token_path)
        # A node joining a cluster with token authentication must say so itself.
        worker = ray_start([f"--address=127.0.0.1:{gcs_port}", f"--num-cpus={WORKER_CPUS}"],
                           {**base, "RAY_AUTH_MODE": "token"}, logs / "worker.log", temp_dirs[1])
        nodes = wait_for_nodes(address, 2, [(head, logs / "head.log"), (worker, logs / "worker.log")], token_path)
        (head_node,) = [n.node_id for n in nodes if n.cpus == 0]
        (worker_node,) = [n.node_id for n in nodes if n.cpus == WORKER_CPUS]
        yield RayCluster(address=address, token=token, token_path=token_path, head_node=head_node,
                         worker_node=worker_node, worker=worker, metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        for process in (worker, head):
            if process is not None:
                stop_ray(process)
        for temp_dir in temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)


def wait_for_nodes(address: str, count: int, processes, token_path: Path, deadline_s: float = 180) -> list[NodeCapacity]:
    """Readiness, not timing: poll until the job server answers (with the token) and
    `count` nodes are alive, or a `ray start` dies."""
    from jobs.cluster.job_client import connect
    from jobs.cluster.submission import cluster_nodes

    deadline = time.monotonic() + deadline_s
    with client_environment(RAY_AUTH_TOKEN_PATH=str(token_path)):
        while True:
            for process, log in processes:
                if process.poll() is not None:
                    pytest.fail(f"ray start exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                connect(address)
                nodes = cluster_nodes(address)
                if len(nodes) == count:
                    return nodes
            except Exception:  # ConnectionError, or the state API not serving yet
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the cluster at {address} did not get {count} node(s):\n"
                            + "\n".join(log.read_text()[-2000:] for _, log in processes))
            time.sleep(1)


def stop_ray(process: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block` stops the processes it started; anything of
    ours left after that is killed by process id."""
    try:
        ours = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        ours = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for child in ours:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """`k2batch ARGS` with exactly this environment (no token setting of this process leaks in)."""
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def submit(cluster: RayCluster, job: Path, *args: str) -> subprocess.CompletedProcess:
    return cli("submit", str(job), "--address", cluster.address, *args, env=cluster.client_env(), timeout=600)


def job_count(cluster: RayCluster) -> int:
    from jobs.cluster.job_client import connect

    with client_environment(RAY_AUTH_TOKEN_PATH=str(cluster.token_path)):
        return len(connect(cluster.address).list_jobs())


def engine_processes(root: subprocess.Popen) -> dict[int, str]:
    """The engine actors among the processes a `ray start` started."""
    found = {}
    for process in psutil.Process(root.pid).children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        if command.startswith("ray::") and "K2Engine" in command:
            found[process.pid] = command
    return found


def wait_until(condition, proc: subprocess.Popen, what: str | Callable[[], str], timeout: float = 600):
    """`condition()`'s first true value; `what` (or what it returns, when it fails) names it."""
    def named() -> str:
        return what() if callable(what) else what

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if proc.poll() is not None:
            pytest.fail(f"the submitted job ended (exit {proc.returncode}) before {named()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {named()}")


# The kill must land while the engine has rows left: one row per block at a time, more
# rows than the engine answers before its first answers are staged (tests/jobs/driver/test_resume.py).
KILL_ROWS, KILL_FILES, KILL_UNIT_ROWS = 96, 3, 16


@pytest.mark.engine
def test_two_nodes_the_engine_runs_on_the_worker_and_survives_its_kill(ray_cluster, tmp_path, tiny_model):
    """Submitted with the token from RAY_AUTH_TOKEN_PATH; the engine actor on the worker
    node SIGKILLed once its first answers are staged; Ray restarts it and the job ends
    with exit 0, every row once. `status` finds the token in RAY_AUTH_TOKEN, `logs` in
    ~/.ray/auth_token; none of them prints it."""
    data, output = tmp_path / "news", tmp_path / "out"
    write_sample(data, rows=KILL_ROWS, files=KILL_FILES)
    spec = job_spec(input={"uri": str(data)}, model={"source": str(tiny_model), "batch_size": 1, "max_batches_in_flight": 1},
                    output={"uri": str(output), "unit_rows": KILL_UNIT_ROWS})
    with open(tmp_path / "stdout", "w") as stdout, open(tmp_path / "stderr", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "submit", str(write_job(tmp_path, spec)), "--address",
                                 ray_cluster.address, "--wait"], cwd=ROOT, stdout=stdout, stderr=stderr,
                                env=ray_cluster.client_env())
    try:
        wait_until(lambda: list((output / "_staging").glob("*/*.parquet")), proc, "the first answers were staged")
        engines = engine_processes(ray_cluster.worker)
        assert len(engines) == 1, f"expected one engine actor on the worker node, found {engines}"
        (killed,) = engines
        os.kill(killed, signal.SIGKILL)
        committed_at_kill = len(list((output / "_manifest").glob("*.json")))
        restarted = wait_until(lambda: set(engine_processes(ray_cluster.worker)) - {killed}, proc,
                               "Ray restarted the engine actor")
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    assert proc.returncode == 0, stderr[-3000:] + stdout[-3000:]
    assert restarted and committed_at_kill < KILL_ROWS // KILL_UNIT_ROWS, "the kill landed after the last unit"

    lines = stdout.strip().splitlines()
    submission_id = lines[0]
    assert submission_id.startswith("raysubmit_")
    summary = json.loads(lines[-1])  # the job's summary is the last stdout line, as for a local run
    assert summary == json.loads((output / "summary.json").read_text())
    assert summary["engines"] and {e["node_id"] for e in summary["engines"]} == {ray_cluster.worker_node}
    assert sum(e["restarts"] for e in summary["engines"]) >= 1, summary["engines"]
    assert summary["units"] == KILL_ROWS // KILL_UNIT_ROWS and summary["records"] + summary["rejects"] == KILL_ROWS
    records, rejects = read_kind(output, "records"), read_kind(output, "rejects")
    assert len(records) == summary["records"] and len(rejects) == summary["rejects"]
    input_ids = pq.read_table(data, columns=["doc_id"]).column(0).to_pylist()
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == sorted(input_ids)
    # The job's own output, not the cluster's: its start line naming the log, progress, its summary.
    job_lines = lines[1:-1]
    units = KILL_ROWS // KILL_UNIT_ROWS
    assert job_lines[0].startswith(f"k2batch: news-extract run news-extract: {units} unit(s), {KILL_ROWS} rows; logs: ")
    assert job_lines[-1].startswith(f"news-extract: {KILL_ROWS} rows -> ") and len(job_lines) <= 20, stdout
    assert all(line.startswith("k2batch: ") for line in job_lines[:-1]), stdout
    assert "Initializing a V1 LLM engine" in (output / summary["logs"] / "k2batch.log").read_text()
    # The job's counters, as Prometheus scrapes them from the head's metrics endpoint.
    metrics = job_metrics(ray_cluster.metrics_url, "news-extract", until=lambda m: m.get("ray_k2batch_rows_total") == KILL_ROWS)
    assert metrics["ray_k2batch_records_total"] == summary["records"]
    # Every reason the summary counts, and no other (none at all on a run without rejects).
    rejects_by_reason = {key.removeprefix("ray_k2batch_rejects_total{reason=").removesuffix("}"): count
                         for key, count in metrics.items() if key.startswith("ray_k2batch_rejects_total{")}
    assert rejects_by_reason == summary["reject_reasons"] and sum(rejects_by_reason.values()) == summary["rejects"]
    for name in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
        assert metrics[f"ray_k2batch_{name}_total"] == summary[name]
    # Every row answered; the rows the killed replica had answered but not yet written (at most
    # the blocks it worked on: ENGINE_TASKS_PER_ACTOR units) were answered again, and count again.
    answered = metrics["ray_k2batch_row_attempts_count"]
    assert KILL_ROWS <= answered <= KILL_ROWS + ENGINE_TASKS_PER_ACTOR * KILL_UNIT_ROWS, answered
    assert metrics["ray_k2batch_attempts_total"] >= answered
    assert metrics["ray_k2batch_unit_seconds_count"] == metrics["ray_k2batch_unit_commit_seconds_count"] == units
    assert 0 < metrics["ray_k2batch_unit_seconds_sum"] < summary["wall_seconds"] * units

    status = cli("status", submission_id, "--address", ray_cluster.address,
                 env=clean_env(RAY_AUTH_TOKEN=ray_cluster.token))
    assert status.returncode == 0 and f"{submission_id} SUCCEEDED run news-extract exit code 0" in status.stdout
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    shutil.copy(ray_cluster.token_path, home / ".ray" / "auth_token")
    logs = cli("logs", submission_id, "--address", ray_cluster.address, env=clean_env(HOME=str(home)))
    assert logs.returncode == 0 and json.dumps(summary, sort_keys=True) in logs.stdout
    for result in (status, logs):
        assert ray_cluster.token not in result.stdout + result.stderr
    assert ray_cluster.token not in stdout + stderr


def job_metrics(url: str, job: str, *, until, deadline_s: float = 60) -> dict[str, float]:
    """The `ray_k2batch_*` samples of `job`, summed over workers, keyed by name (and by
    reason for rejects); polled until `until(metrics)` holds: Ray exports on an interval."""
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + deadline_s
    while True:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("ray_k2batch_") and sample.labels.get("job") == job and "le" not in sample.labels:
                    key = sample.name + (f"{{reason={sample.labels['reason']}}}" if "reason" in sample.labels else "")
                    found[key] = found.get(key, 0) + sample.value
        if until(found) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_without_a_token_the_error_says_what_to_set(ray_cluster, tmp_path, tiny_model, news_data):
    """No token anywhere (an empty home, no variables): one line naming the variables, exit 2, nothing submitted."""
    env = clean_env(HOME=str(tmp_path))
    expected = (f"k2batch: error: the Ray cluster at {ray_cluster.address} uses token authentication and no token was "
                "found: set RAY_AUTH_TOKEN to the cluster's token, or RAY_AUTH_TOKEN_PATH to a file holding it "
                "(default ~/.ray/auth_token); `ray get-auth-token` on the head node prints it")
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(tmp_path / "out")})
    before = job_count(ray_cluster)
    for args in (["submit", str(write_job(tmp_path, spec))], ["status", "raysubmit_x"]):  # `logs` connects as `status`
        result = cli(*args, "--address", ray_cluster.address, env=env)
        assert (result.returncode, result.stderr.strip()) == (2, expected), args
    assert job_count(ray_cluster) == before


def test_a_wrong_token_is_refused_and_never_printed(ray_cluster):
    wrong = secrets.token_hex(32)
    result = cli("status", "raysubmit_x", "--address", ray_cluster.address, env=clean_env(RAY_AUTH_TOKEN=wrong))
    assert result.returncode == 2
    assert result.stderr.startswith(f"k2batch: error: the Ray cluster at {ray_cluster.address} refused the token from "
                                    "RAY_AUTH_TOKEN (another cluster's, or an old one)"), result.stderr
    assert wrong not in result.stdout + result.stderr


def test_a_failing_job_passes_its_exit_code_back(ray_cluster, tmp_path, tiny_model):
    """The client cannot see the cluster's files; the job's own check does, and its
    exit code (2: spec error) comes back through --wait and `status`."""
    spec = job_spec(input={"uri": str(tmp_path / "no-such-input")}, model={"source": str(tiny_model)},
                    output={"uri": str(tmp_path / "out")})
    result = submit(ray_cluster, write_job(tmp_path, spec), "--wait")
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"input.uri: nothing found at {tmp_path / 'no-such-input'}" in result.stdout
    submission_id = result.stdout.splitlines()[0]
    status = cli("status", submission_id, "--address", ray_cluster.address, env=ray_cluster.client_env())
    assert status.returncode == 2 and f"{submission_id} FAILED" in status.stdout


def test_a_replica_no_node_can_hold_is_refused_before_submission(ray_cluster, tmp_path, tiny_model, news_data):
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model), "tensor_parallel_size": 4},
                    output={"uri": str(tmp_path / "out")})
    before = job_count(ray_cluster)
    result = submit(ray_cluster, write_job(tmp_path, spec))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "k2batch: error: model.tensor_parallel_size: one replica needs 4 CPU core(s) on one node, but the largest "
        f"node of the cluster at {ray_cluster.address} has 3 (2 node(s)); lower model.tensor_parallel_size or add a "
        "larger node"
    )
    assert job_count(ray_cluster) == before


def test_paths_a_submitted_job_cannot_reach_are_refused(tmp_path):
    """The demo spec's relative models/ and data/ are not uploaded; found before any
    connection is made (no address needed)."""
    result = cli("submit", str(ROOT / "jobs/examples/news_extract.yaml"), "--address", "http://127.0.0.1:9", env=clean_env())
    assert result.returncode == 2
    assert "input.uri: data/news/ is under data/, which is not uploaded with a submitted job" in result.stderr
    spec = job_spec(input={"uri": "/abs/news"}, model={"source": "/abs/model"}, output={"uri": "out/news/"})
    result = cli("submit", str(write_job(tmp_path, spec)), "--address", "http://127.0.0.1:9", env=clean_env())
    assert result.returncode == 2
    assert "output.uri: out/news/ is relative, so a submitted job would write it into its temporary copy" in result.stderr


def test_an_unreachable_cluster_is_an_infrastructure_error(tmp_path):
    spec = job_spec(input={"uri": "/abs/news"}, model={"source": "/abs/model"}, output={"uri": "/abs/out"})
    result = cli("submit", str(write_job(tmp_path, spec)), "--address", f"http://127.0.0.1:{free_port()}", env=clean_env())
    assert result.returncode == 4
    assert "cannot reach the Ray job server at http://127.0.0.1:" in result.stderr


def test_status_of_an_unknown_job(ray_cluster):
    result = cli("status", "raysubmit_nope", "--address", ray_cluster.address, env=ray_cluster.client_env())
    assert result.returncode == 2
    assert result.stderr.strip() == f"k2batch: error: no job raysubmit_nope on the cluster at {ray_cluster.address}"


def _spec(**model) -> JobSpec:
    return JobSpec.model_validate(job_spec(model=model))


@pytest.mark.parametrize(
    ("nodes", "model", "fits", "warning"),
    [
        ([NodeCapacity("a", cpus=8, gpus=4)], dict(tensor_parallel_size=4), True, None),
        ([NodeCapacity("a", cpus=8, gpus=2), NodeCapacity("b", cpus=8, gpus=2)], dict(tensor_parallel_size=4), False, None),
        ([NodeCapacity("a", cpus=0, gpus=4)], dict(tensor_parallel_size=4), False, None),  # a replica also needs a CPU
        ([NodeCapacity("a", cpus=8, gpus=8)], dict(tensor_parallel_size=4, replicas=3), True, "holds 2 of 3 replicas"),
        ([NodeCapacity("a", cpus=2, gpus=0), NodeCapacity("b", cpus=2, gpus=0)], dict(tensor_parallel_size=2), True, None),
        ([NodeCapacity("a", cpus=64, gpus=1)], dict(tensor_parallel_size=2, device="cpu"), True, None),
        ([NodeCapacity("a", cpus=64, gpus=0)], dict(tensor_parallel_size=1, device="gpu"), False, None),
    ],
    ids=["gpu-fits", "gpu-split-across-nodes", "gpu-no-cpu", "gpu-some-replicas", "cpu-fits", "cpu-forced",
         "gpu-forced-none"],
)
def test_replica_fit_follows_the_engine_resource_request(nodes, model, fits, warning):
    spec = _spec(**model)
    if not fits:
        with pytest.raises(ClusterFitError, match="model.tensor_parallel_size: one replica needs"):
            replica_fit_warning(spec, nodes, "http://head:8265")
        return
    result = replica_fit_warning(spec, nodes, "http://head:8265")
    assert (result is None) if warning is None else (warning in result)


def test_the_entrypoint_is_the_local_run_command():
    """After the dependency check (tests/jobs/cluster/test_cluster_python.py), and only if it passes."""
    command = entrypoint(overrides=["model.replicas=2"], params={"ds": "2026-11-26"}, run_id=None)
    assert command == (
        'python -m jobs.cluster.dependency_check && '
        'printf "%s" "$K2BATCH_JOB_SPEC" | python -m jobs.cli run - --set model.replicas=2 --param ds=2026-11-26'
    )


def test_the_upload_is_the_code_without_environments_weights_or_data(tmp_path):
    """What Ray's own packaging (the code path of submit_job) zips as working_dir."""
    import logging
    import zipfile

    from ray._private.runtime_env.packaging import create_package

    from jobs.cluster.submission import runtime_env

    env = runtime_env("name: x\n")
    package = tmp_path / "working_dir.zip"
    create_package(env["working_dir"], package, include_parent_dir=False, excludes=env["excludes"],
                   logger=logging.getLogger(__name__), include_gitignore=False)  # excludes alone must suffice
    names = zipfile.ZipFile(package).namelist()
    assert "jobs/cli/__init__.py" in names and "operators/k2_engine.py" in names and "schemas/examples/news.py" in names
    assert not [n for n in names if n.split("/")[0] in {".venv", ".git", "models", "data", "out"} or "__pycache__" in n]
    assert env["env_vars"]["K2BATCH_JOB_SPEC"] == "name: x\n" and "pip" not in env


def test_submit_wait_shows_the_jobs_own_output_not_the_job_managers():
    from jobs.cluster.job_client import JobOutput

    stream = ["2026-12-03 08:58:29,300\tINFO job_manager.py:581 -- Runtime env is setting up.\nsetting up pip\n",
              "Running entrypoint for job raysubmit_x: printf ... | python -m jobs.cli run -\nk2batch: news",
              "-extract run news-extract: 3 unit(s)\n", "2026-12-03 08:59:01,002\tINFO job_manager.py:1013 -- Job",
              " finished.\n{\"records\": 24}"]
    output = JobOutput()
    lines = [line for chunk in stream for line in output.feed(chunk)] + output.end()
    assert lines == ["k2batch: news-extract run news-extract: 3 unit(s)\n", '{"records": 24}']
    everything = JobOutput(everything=True)
    assert len([line for chunk in stream for line in everything.feed(chunk)] + everything.end()) == 6


@pytest.mark.parametrize(("variables", "expected"), [
    ({}, "http://127.0.0.1:8265"),
    ({"RAY_ADDRESS": "127.0.0.1:6379"}, "http://127.0.0.1:8265"),  # a GCS address, not a job server's
    ({"RAY_ADDRESS": "http://head:8265"}, "http://head:8265"),
    ({"RAY_ADDRESS": "http://head:8265", "RAY_API_SERVER_ADDRESS": "https://api:443"}, "https://api:443"),
], ids=["none", "gcs-address", "ray-address", "api-server-first"])
def test_the_address_defaults_to_the_environment_then_the_local_job_server(monkeypatch, variables, expected):
    from jobs.cluster.submission import job_server_address

    for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert job_server_address(None) == expected and job_server_address("http://given:1") == "http://given:1"


def first_line(path: Path) -> str | None:
    text = path.read_text()
    return text.split("\n")[0] if "\n" in text else None


@pytest.mark.engine  # the finished output is an engine's (tests/jobs/finished_job.py)
def test_submit_wait_and_logs_follow_end_with_the_jobs_exit_code_3(ray_cluster, finished_job, tmp_path):
    """A job whose output holds too many rejects (every unit reused on the cluster, no
    engine): `submit --wait` and a `logs --follow` started while it runs both exit 3;
    `logs` and `status` find the job server through RAY_API_SERVER_ADDRESS and RAY_ADDRESS."""
    with open(tmp_path / "stdout", "w") as stdout:
        submitting = subprocess.Popen([sys.executable, "-m", "jobs.cli", "submit", str(finished_job.job), "--address",
                                       ray_cluster.address, "--wait"], cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE,
                                      text=True, env=ray_cluster.client_env())
    try:
        submission_id = wait_until(lambda: first_line(tmp_path / "stdout"), submitting, "the submission id was printed",
                                   timeout=120)
        follow = cli("logs", submission_id, "--follow", env=ray_cluster.client_env(RAY_API_SERVER_ADDRESS=ray_cluster.address),
                     timeout=600)
        submitting.wait(timeout=600)
    finally:
        if submitting.poll() is None:
            submitting.kill()
    lines = (tmp_path / "stdout").read_text().strip().splitlines()
    assert submitting.returncode == 3, submitting.stderr.read()[-3000:]
    summary = json.loads(lines[-1])
    assert (summary["reused_units"], summary["engines"]) == (summary["units"], [])
    assert any(line.startswith("k2batch: error: reject rate ") for line in lines), lines
    assert follow.returncode == 3, follow.stderr[-3000:]
    assert json.dumps(summary, sort_keys=True) in follow.stdout and "k2batch: error: reject rate " in follow.stdout
    status = cli("status", submission_id, env=ray_cluster.client_env(RAY_ADDRESS=ray_cluster.address))
    assert status.returncode == 3 and f"{submission_id} FAILED run finished exit code 3" in status.stdout, status


def test_the_airflow_dag_submits_to_the_cluster_and_ends_with_the_jobs_exit_code(ray_cluster, tmp_path, tiny_model):
    """examples/airflow_dag.py with K2BATCH_RAY_ADDRESS set, its command run as its
    BashOperator runs it, from a checkout whose daily spec has absolute paths: the day's
    output folder cannot be made on the cluster (exit 4, worth Airflow's retries)."""
    day = "2026-11-26"
    home = tmp_path / "k2batch"
    write_sample(tmp_path / "news" / f"dt={day}", rows=2, files=1)
    (tmp_path / "blocked").write_text("a file where the output's parent folder should be")
    daily = yaml.safe_load((ROOT / "jobs/examples/news_daily.yaml").read_text())
    daily["input"]["uri"], daily["model"]["source"] = f"{tmp_path}/news/dt={{ds}}/", str(tiny_model)
    daily["output"]["uri"] = f"{tmp_path}/blocked/out/dt={{ds}}/"
    (home / "jobs" / "examples").mkdir(parents=True)
    write_job(home / "jobs" / "examples", daily, name="news_daily.yaml")
    shim = home / ".venv" / "bin" / "k2batch"  # the checkout's console script
    shim.parent.mkdir(parents=True)
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m jobs.cli "$@"\n')
    shim.chmod(0o755)
    env = ray_cluster.client_env(K2BATCH_HOME=str(home), K2BATCH_RAY_ADDRESS=ray_cluster.address)
    dag = subprocess.run([sys.executable, "-c", "import examples.airflow_dag as dag; print(dag.DAILY_COMMAND)"], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True)
    command = dag.stdout.strip().replace("{{ ds }}", day)
    assert f"submit jobs/examples/news_daily.yaml --param ds={day} --address {ray_cluster.address} --wait" in command
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 4, result.stderr[-3000:]
    assert "k2batch: error: NotADirectoryError" in result.stdout, result.stdout[-3000:]
