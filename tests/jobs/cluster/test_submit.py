"""`k2batch submit/status/logs` against a real Ray head started here, with its job
server on 127.0.0.1, as a user of a Ray cluster runs them.

The head is isolated from other Ray instances on the machine: its own --temp-dir
(so its address never lands in /tmp/ray/ray_current_cluster, which a bare ray.init()
elsewhere would join), its own free ports, and teardown by its own process id,
never `ray stop` (which stops every Ray process of the user on the machine).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.spec import JobSpec
from jobs.cluster.submission import entrypoint
from jobs.plan.replica_fit import ClusterFitError, NodeCapacity, check_replicas_fit
from tests.conftest import ROOT, job_spec, run_cli, write_job

VENV_BIN = Path(sys.executable).parent
# The head and this test's clients run without Ray's token authentication: the head
# listens on 127.0.0.1 only, and the tests must not depend on a token in ~/.ray.
HEAD_ENV = {"RAY_AUTH_MODE": "disabled"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class RayHead:
    address: str  # the job server
    metrics_url: str  # the node's Prometheus endpoint (Ray's metrics export port)


@pytest.fixture(scope="module")
def ray_head_node():
    """A one-node cluster with 3 logical CPUs: one engine replica plus room for
    Ray Data's read and write tasks."""
    temp_dir = tempfile.mkdtemp(prefix="k2r", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    dashboard_port = free_port()
    metrics_port = free_port()
    env = {
        **os.environ, **HEAD_ENV,
        # The entrypoint's `python` must be this venv's, as on a cluster whose image has k2batch's deps.
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",  # stop at once on SIGTERM
    }
    env.pop("RAY_ADDRESS", None)
    log = open(Path(temp_dir) / "head.log", "w")
    head = subprocess.Popen(
        [str(VENV_BIN / "ray"), "start", "--head", "--block", "--disable-usage-stats",
         f"--port={free_port()}", f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard_port}", "--include-dashboard=true", "--num-cpus=3", f"--temp-dir={temp_dir}",
         f"--metrics-export-port={metrics_port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=temp_dir,
    )
    address = f"http://127.0.0.1:{dashboard_port}"
    saved = {name: os.environ.get(name) for name in HEAD_ENV}
    os.environ.update(HEAD_ENV)  # for this process's own job clients
    try:
        wait_for_job_server(address, head, Path(temp_dir) / "head.log")
        yield RayHead(address=address, metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        stop_head(head)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


@pytest.fixture(scope="module")
def ray_head(ray_head_node) -> str:
    """The head's job server address."""
    return ray_head_node.address


def wait_for_job_server(address: str, head: subprocess.Popen, log: Path, deadline_s: float = 120) -> None:
    """Readiness, not timing: poll until the job server answers and the head node is
    registered, or the head dies."""
    from ray.job_submission import JobSubmissionClient

    from jobs.cluster.submission import cluster_nodes

    deadline = time.monotonic() + deadline_s
    while True:
        if head.poll() is not None:
            pytest.fail(f"ray start exited with {head.returncode}:\n{log.read_text()[-3000:]}")
        try:
            JobSubmissionClient(address)
            cluster_nodes(address)
            return
        except Exception:  # ConnectionError, or the state API not serving yet
            if time.monotonic() > deadline:
                pytest.fail(f"the job server at {address} did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(1)


def stop_head(head: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block` stops the processes it started; anything of
    ours left after that is killed by process id."""
    import psutil

    try:
        ours = psutil.Process(head.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        ours = []
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    for process in ours:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def submit(address: str, job: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("submit", str(job), "--address", address, *args, env=HEAD_ENV, timeout=600)


def job_count(address: str) -> int:
    from ray.job_submission import JobSubmissionClient

    return len(JobSubmissionClient(address).list_jobs())


@pytest.mark.engine
def test_submit_and_wait_runs_the_job_on_the_cluster(ray_head_node, tmp_path, tiny_model, news_data):
    ray_head = ray_head_node.address
    output = tmp_path / "out"
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(output)})
    result = submit(ray_head, write_job(tmp_path, spec), "--wait")
    assert result.returncode == 0, result.stderr[-3000:]

    lines = result.stdout.strip().splitlines()
    submission_id = lines[0]
    assert submission_id.startswith("raysubmit_")
    summary = json.loads(lines[-1])  # the job's summary is the last stdout line, as for a local run
    assert summary == json.loads((output / "summary.json").read_text())
    assert summary["run_id"] == "news-extract"
    assert summary["input_rows"] == 24 and summary["records"] + summary["rejects"] == 24
    records = pq.read_table(output / "records").to_pylist() if (output / "records").exists() else []
    rejects = pq.read_table(output / "rejects").to_pylist() if (output / "rejects").exists() else []
    assert len(records) == summary["records"] and len(rejects) == summary["rejects"]
    input_ids = pq.read_table(news_data, columns=["doc_id"]).column(0).to_pylist()
    assert sorted(r["doc_id"] for r in records + rejects) == sorted(input_ids)
    # The job's own output, not the cluster's: its start line naming the log, progress, its summary.
    job_lines = lines[1:-1]
    assert job_lines[0].startswith("k2batch: news-extract run news-extract: 3 unit(s), 24 rows; logs: ")
    assert job_lines[-1].startswith("news-extract: 24 rows -> ") and len(job_lines) <= 10, result.stdout
    assert all(line.startswith("k2batch: ") for line in job_lines[:-1]), result.stdout
    assert "Initializing a V1 LLM engine" in (output / summary["logs"] / "k2batch.log").read_text()

    status = run_cli("status", submission_id, "--address", ray_head, env=HEAD_ENV, timeout=120)
    assert status.returncode == 0 and f"{submission_id} SUCCEEDED run news-extract exit code 0" in status.stdout
    logs = run_cli("logs", submission_id, "--address", ray_head, env=HEAD_ENV, timeout=120)
    assert logs.returncode == 0 and json.dumps(summary, sort_keys=True) in logs.stdout

    # The job's counters, as Prometheus scrapes them from the node's metrics endpoint.
    metrics = job_metrics(ray_head_node.metrics_url, "news-extract", until=lambda m: m.get("ray_k2batch_rows_total") == 24)
    assert metrics["ray_k2batch_records_total"] == summary["records"]
    for reason, count in summary["reject_reasons"].items():
        assert metrics[f"ray_k2batch_rejects_total{{reason={reason}}}"] == count
    for name in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
        assert metrics[f"ray_k2batch_{name}_total"] == summary[name]
    assert metrics["ray_k2batch_row_attempts_count"] == 24 and metrics["ray_k2batch_attempts_total"] >= 24
    assert metrics["ray_k2batch_row_attempts_sum"] == metrics["ray_k2batch_attempts_total"]
    assert metrics["ray_k2batch_unit_seconds_count"] == metrics["ray_k2batch_unit_commit_seconds_count"] == 3
    assert 0 < metrics["ray_k2batch_unit_seconds_sum"] < summary["wall_seconds"] * 3


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


def test_a_failing_job_passes_its_exit_code_back(ray_head, tmp_path, tiny_model):
    """The client cannot see the cluster's files; the job's own check does, and its
    exit code (2: spec error) comes back through --wait and `status`."""
    spec = job_spec(input={"uri": str(tmp_path / "no-such-input")}, model={"source": str(tiny_model)},
                    output={"uri": str(tmp_path / "out")})
    result = submit(ray_head, write_job(tmp_path, spec), "--wait")
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"input.uri: nothing found at {tmp_path / 'no-such-input'}" in result.stdout
    submission_id = result.stdout.splitlines()[0]
    status = run_cli("status", submission_id, "--address", ray_head, env=HEAD_ENV, timeout=120)
    assert status.returncode == 2 and f"{submission_id} FAILED" in status.stdout


def test_a_replica_no_node_can_hold_is_refused_before_submission(ray_head, tmp_path, tiny_model, news_data):
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model), "tensor_parallel_size": 4},
                    output={"uri": str(tmp_path / "out")})
    before = job_count(ray_head)
    result = submit(ray_head, write_job(tmp_path, spec))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "k2batch: error: model.tensor_parallel_size: one replica needs 4 CPU core(s) on one node, but the largest "
        f"node of the cluster at {ray_head} has 3 (1 node(s)); lower model.tensor_parallel_size or add a larger node"
    )
    assert job_count(ray_head) == before


def test_paths_a_submitted_job_cannot_reach_are_refused(tmp_path):
    """The demo spec's relative models/ and data/ are not uploaded; found before any
    connection is made (no address needed)."""
    result = run_cli("submit", str(ROOT / "jobs/examples/news_extract.yaml"), "--address", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "input.uri: data/news/ is under data/, which is not uploaded with a submitted job" in result.stderr
    spec = job_spec(input={"uri": "/abs/news"}, model={"source": "/abs/model"}, output={"uri": "out/news/"})
    result = run_cli("submit", str(write_job(tmp_path, spec)), "--address", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "output.uri: out/news/ is relative, so a submitted job would write it into its temporary copy" in result.stderr


def test_an_unreachable_cluster_is_an_infrastructure_error(tmp_path):
    spec = job_spec(input={"uri": "/abs/news"}, model={"source": "/abs/model"}, output={"uri": "/abs/out"})
    result = run_cli("submit", str(write_job(tmp_path, spec)), "--address", f"http://127.0.0.1:{free_port()}",
                     env=HEAD_ENV)
    assert result.returncode == 4
    assert "cannot reach the Ray job server at http://127.0.0.1:" in result.stderr


def test_status_of_an_unknown_job(ray_head):
    result = run_cli("status", "raysubmit_nope", "--address", ray_head, env=HEAD_ENV, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"k2batch: error: no job raysubmit_nope on the cluster at {ray_head}"


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
            check_replicas_fit(spec, nodes, "http://head:8265")
        return
    result = check_replicas_fit(spec, nodes, "http://head:8265")
    assert (result is None) if warning is None else (warning in result)


def test_the_entrypoint_is_the_local_run_command():
    command = entrypoint(overrides=["model.replicas=2"], params={"ds": "2026-11-26"}, run_id=None)
    assert command == (
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
