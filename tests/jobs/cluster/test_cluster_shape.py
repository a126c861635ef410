"""The cluster shape, on a real multi-node Ray cluster on this machine: a head without CPUs
(the submitted job's driver runs there) and worker nodes joined with `ray start
--address`, each its own temp dir and ports (tests/jobs/cluster/multi_node.py),
one cluster for the module. A label job of 300 rows in 12 units, one row per engine
batch so that units stay in flight long enough for what a test does to land mid-run;
each test waits on what it can observe (a manifest entry, a node joining, an engine
process on a node), never on time.

- SIGTERM to a running job's driver drains it: committed units only, exit 4; its re-run
  reuses them, and when the worker node holding its engine is SIGKILLed (every process of
  it) after its first committed unit, the same run ends with exit 0, every row exactly
  once, the lost node and the units in flight there in summary.json, committed units
  untouched (one engine start fewer than two jobs).
- Under `replicas: {min: 1, max: 2}`, a worker that joins mid-run gets a replica that
  answers rows.
"""

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from tests.conftest import ROOT, job_spec, read_kind, write_job
from tests.jobs.cluster.multi_node import WORKER_CPUS, Cluster
from tests.jobs.cluster.test_submit import wait_until

pytestmark = pytest.mark.engine

ROWS, FILES, UNIT_ROWS = 300, 3, 25
UNITS = ROWS // UNIT_ROWS
JOIN_ROWS = 2 * ROWS
LABELS = ["politics", "business", "science", "sports", "culture"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.keep_workers(2)
        yield cluster
    finally:
        cluster.stop()


def label_job(folder: Path, model: Path, rows: int = ROWS, **model_fields) -> tuple[Path, Path, list[str]]:
    """The job file, its output folder and its input ids."""
    data = folder / "news"
    write_sample(data, rows=rows, files=FILES)
    spec = job_spec(name="news-label", input={"uri": str(data)},
                    task={"mode": "label", "labels": LABELS, "prompt": "What is this article about?\n\n{body}"},
                    # One row per batch and block at a time: units stay in flight while a test acts.
                    model={"source": str(model), "max_model_len": 1024, "max_tokens": 64, "batch_size": 1,
                           "max_batches_in_flight": 1, **model_fields},
                    # The random model's answers may be rejects: the rows count, not their quality.
                    output={"uri": str(folder / "out"), "unit_rows": UNIT_ROWS, "max_reject_rate": 1.0})
    for key in ("schema", "tool_name", "tool_description"):
        spec["task"].pop(key)
    ids = pq.read_table(data, columns=["doc_id"]).column(0).to_pylist()
    return write_job(folder, spec), folder / "out", ids


def submit(cluster: Cluster, job: Path, logs: Path) -> subprocess.Popen:
    """`k2batch submit --wait`, its output in files (a full pipe would stall it)."""
    with open(logs / "stdout", "a") as stdout, open(logs / "stderr", "a") as stderr:
        return subprocess.Popen([sys.executable, "-m", "jobs.cli", "submit", str(job), "--address", cluster.address, "--wait"],
                                cwd=ROOT, stdout=stdout, stderr=stderr, env=cluster.client_env())


def finish(proc: subprocess.Popen, logs: Path, timeout: float = 900) -> tuple[int, str]:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, (logs / "stdout").read_text() + (logs / "stderr").read_text()


def manifest(output: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (output / "_manifest").glob("*.json")}


def every_row_once(output: Path, ids: list[str]) -> dict:
    summary = json.loads((output / "summary.json").read_text())
    records, rejects = read_kind(output, "records"), read_kind(output, "rejects")
    assert sorted([*records["doc_id"], *rejects["doc_id"]]) == sorted(ids), "every input row exactly once"
    assert summary["records"] + summary["rejects"] == summary["input_rows"] == len(ids)
    return summary


@dataclass
class Drained:
    job: Path
    output: Path
    ids: list[str]
    code: int
    text: str  # what `submit --wait` printed
    committed: dict[str, bytes]  # the manifest once it ended


@pytest.fixture(scope="module")
def drained(cluster, tmp_path_factory, tiny_model) -> Drained:
    """A submitted job whose driver got SIGTERM once its first unit was committed."""
    folder = tmp_path_factory.mktemp("drained")
    job, output, ids = label_job(folder, tiny_model)
    proc = submit(cluster, job, folder)
    wait_until(lambda: manifest(output), proc, "the first committed unit")
    (driver,) = cluster.driver_pids()
    os.kill(driver, signal.SIGTERM)
    code, text = finish(proc, folder)
    return Drained(job, output, ids, code, text, manifest(output))


def test_sigterm_to_the_driver_drains_the_run(drained):
    """The units in flight commit, none starts, what was staged is removed, exit 4."""
    output, committed = drained.output, drained.committed
    assert drained.code == 4, drained.text[-3000:]
    left = UNITS - len(committed)
    lines = [line for line in drained.text.splitlines() if line.startswith("k2batch: error: drained on SIGTERM")]
    assert len(lines) == 1 and f": {left} unit(s) left uncommitted, their staged files removed" in lines[0], drained.text[-3000:]
    assert left >= 1, "the units that had not started are left"
    assert not list(output.glob("_staging/**/*.parquet")), "what was not committed is removed"
    listed = {f for entry in committed.values() for files in json.loads(entry)["files"].values() for f in files}
    on_disk = {p.relative_to(output).as_posix() for kind in ("records", "rejects") for p in (output / kind).glob("*.parquet")}
    assert on_disk == listed, "only the committed units' files"
    assert not (output / "summary.json").exists(), "a drained run is not a finished one"


def test_the_rerun_survives_a_lost_node_and_finishes_exactly_once(cluster, drained, tmp_path):
    """The drained job run again on two workers: it reuses the committed units, and the
    worker holding its engine is SIGKILLed (every process of it) once it has committed
    one more; the same run ends with exit 0, every row once."""
    cluster.keep_workers(2)
    output = drained.output
    proc = submit(cluster, drained.job, tmp_path)
    wait_until(lambda: len(manifest(output)) > len(drained.committed), proc, "the re-run's first committed unit")
    (lost,) = cluster.hosting_engines()
    (survivor,) = set(cluster.workers) - {lost}
    committed_before = manifest(output)
    cluster.kill_worker(lost)
    code, text = finish(proc, tmp_path)
    assert code == 0, text[-3000:]
    summary = every_row_once(output, drained.ids)
    assert len(committed_before) < UNITS, "the kill landed before the last unit"
    assert {name: manifest(output)[name] for name in committed_before} == committed_before, "committed units never redone"
    assert (summary["reused_units"], summary["units"]) == (len(drained.committed), UNITS), "the drained run's units reused"

    (loss,) = summary["lost_nodes"]
    assert loss["node_id"] == lost and loss["lost_after_s"] > 0
    # The units in flight there: the blocks its replica held (two at a time) or had answered, never a committed one.
    entries = [json.loads(e) for e in committed_before.values()]
    assert len(loss["rerun_units"]) <= 3
    assert not set(loss["rerun_units"]) & {f"{e['input_path']} rows {e['start']}-{e['start'] + e['rows']}" for e in entries}
    lines = [line for line in text.splitlines() if line.startswith(f"k2batch: warning: lost node {lost}")]
    assert len(lines) == 1, text[-3000:]
    (engine,) = summary["engines"]
    assert engine["node_id"] == survivor and engine["restarts"] >= 1, "Ray restarted the replica on the other node"
    assert engine["rows"] == ROWS - summary["reused_rows"], "the one replica answered the run's rows, before and after"


def test_a_worker_that_joins_mid_run_gets_a_replica_that_answers_rows(cluster, tmp_path, tiny_model):
    """Ray Data adds a replica once the first one is busy and a node has room. On this
    loaded 2-core machine a node's join and a replica's model load can take longer than
    the first replica needs for every row, so once the first replica has answered a unit
    it is paused (SIGSTOP, as a replica slowed down would be) before the worker joins, and
    resumed once a unit commits that only the new replica can have answered: the joined
    replica must take and answer work, whatever the machine's load. Ray Data places
    actors round-robin over the nodes with room (its SPREAD default), so while the worker
    joins, another job holds the first worker's spare core: the second replica can only
    start on the node that joined."""
    cluster.keep_workers(1)
    (first,) = cluster.workers
    # The pause is the test's: no stall guard while the worker joins and its replica loads.
    job, output, ids = label_job(tmp_path, tiny_model, rows=JOIN_ROWS, replicas={"min": 1, "max": 2}, stall_timeout_s=1800)
    proc = submit(cluster, job, tmp_path)
    wait_until(lambda: len(manifest(output)) > 0, proc, "a unit the first replica answered")
    assert cluster.hosting_engines() == {first: 1}, "the worker holds one replica, and room for the tasks"
    paused = cluster.engine_tree(first)
    signal_all(paused, signal.SIGSTOP)
    occupied = None
    try:
        occupied = cluster.occupy_a_core(first)
        joined = cluster.add_worker()
        wait_until(lambda: joined in cluster.hosting_engines(), proc,
                   lambda: f"a replica on the node that joined (replicas per node: {cluster.hosting_engines()})")
        # Counted from here: a unit whose last rows were in the writer at the pause commits without the new replica.
        before = len(manifest(output))
        wait_until(lambda: len(manifest(output)) > before, proc, "a unit committed while the first replica is paused")
    finally:
        signal_all(paused, signal.SIGCONT)
        if occupied:
            cluster.release(occupied)
    code, text = finish(proc, tmp_path)
    assert code == 0, text[-3000:]
    summary = every_row_once(output, ids)
    rows = {engine["node_id"]: engine["rows"] for engine in summary["engines"]}
    assert set(rows) == {first, joined} and rows[joined] > 0, summary["engines"]
    assert sum(rows.values()) == JOIN_ROWS
    assert "Engine replicas" in (output / "report.html").read_text()


def signal_all(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        try:
            process.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def test_validate_checks_the_replicas_a_run_starts_with_against_the_cluster(cluster, tmp_path, tiny_model):
    """`validate --address`: one replica must fit a node (exit 2 otherwise); a `min` the
    cluster cannot hold at once is a warning; a `max` it cannot hold is nothing."""
    holds = len(cluster.workers) * WORKER_CPUS
    checks = [({"replicas": {"min": 1, "max": 64}}, 0, ""),
              ({"replicas": {"min": holds + 1, "max": 64}},
               0, f"k2batch: warning: model.replicas: the cluster holds {holds} of {holds + 1} replicas the run starts "
                  "with (min) at once now; the rest wait for resources"),
              ({"tensor_parallel_size": WORKER_CPUS + 1, "replicas": {"min": 1, "max": 2}},
               2, f"k2batch: error: model.tensor_parallel_size: one replica needs {WORKER_CPUS + 1} CPU core(s) on one node")]
    for model, code, line in checks:
        job, _, _ = label_job(tmp_path, tiny_model, **model)
        result = subprocess.run([sys.executable, "-m", "jobs.cli", "validate", str(job), "--address", cluster.address],
                                cwd=ROOT, capture_output=True, text=True, timeout=120, env=cluster.client_env())
        assert result.returncode == code, result.stderr
        assert result.stderr.strip().startswith(line) if line else result.stderr.strip() == "", result.stderr
