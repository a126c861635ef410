"""A multi-node Ray cluster on this machine for the cluster-shape tests: a head without
CPUs (a submitted job's driver runs there) and worker nodes joined with `ray start
--address`, each its own temp dir and ports (tests/jobs/cluster/test_submit.py's
helpers), that tests add, kill (every process of a node, as a lost spot node) and stop
by their process ids, never `ray stop`."""

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.jobs.cluster.test_submit import (VENV_BIN, clean_env, client_environment, engine_processes, free_port,
                                            ray_start, stop_ray, wait_for_nodes)

WORKER_CPUS = 2  # one engine replica, and a core for Ray Data's read and write tasks


class Cluster:
    """A head without CPUs and worker nodes that tests add, kill and stop."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.temp_dirs: list[str] = []
        self.token_path = folder / "auth_token"
        self.token_path.write_text(os.urandom(32).hex())
        self.gcs_port, dashboard_port = free_port(), free_port()
        self.address = f"http://127.0.0.1:{dashboard_port}"
        self.env = clean_env(PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
                             RAY_AUTH_TOKEN_PATH=str(self.token_path))
        self.head = ray_start(["--head", f"--port={self.gcs_port}", f"--ray-client-server-port={free_port()}",
                               "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", "--include-dashboard=true",
                               "--num-cpus=0"], self.env, folder / "head.log", self._temp_dir())
        self.workers: dict[str, subprocess.Popen] = {}  # node id -> its `ray start --block`
        self.nodes = {n.node_id for n in self._wait(1)}
        self.head_node = next(iter(self.nodes))

    def _temp_dir(self) -> str:
        self.temp_dirs.append(tempfile.mkdtemp(prefix="k2c", dir="/tmp"))  # short: socket paths must fit 107 bytes
        return self.temp_dirs[-1]

    def _wait(self, count: int):
        processes = [(self.head, self.folder / "head.log")]
        return wait_for_nodes(self.address, count, processes, self.token_path)

    def add_worker(self, attempts: int = 3) -> str:
        """A worker node joined (with the cluster's token); its node id once it is alive.
        `ray start` gives a raylet 30 s to register, which a loaded machine can miss: then
        it exits, and it is started again."""
        for attempt in range(attempts):
            log = self.folder / f"worker-{len(self.temp_dirs)}.log"
            worker = ray_start([f"--address=127.0.0.1:{self.gcs_port}", f"--num-cpus={WORKER_CPUS}"],
                               {**self.env, "RAY_AUTH_MODE": "token"}, log, self._temp_dir())
            joined = self._joined(worker)
            if joined:
                self.nodes.add(joined)
                self.workers[joined] = worker
                return joined
        pytest.fail(f"no worker joined in {attempts} attempts:\n{log.read_text()[-3000:]}")

    def _joined(self, worker: subprocess.Popen, deadline_s: float = 180) -> str | None:
        """The node `worker` added, or None if its `ray start` exited first."""
        from jobs.cluster.submission import cluster_nodes

        deadline = time.monotonic() + deadline_s
        with client_environment(RAY_AUTH_TOKEN_PATH=str(self.token_path)):
            while worker.poll() is None and time.monotonic() < deadline:
                try:
                    new = {n.node_id for n in cluster_nodes(self.address)} - self.nodes
                except ConnectionError:
                    new = set()
                if new:
                    return new.pop()
                time.sleep(1)
        return None

    def keep_workers(self, count: int) -> None:
        """Exactly `count` workers alive, for a test that needs that much room."""
        while len(self.workers) > count:
            node, worker = self.workers.popitem()
            stop_ray(worker)
            self.nodes.discard(node)
            self._wait(len(self.nodes))
        while len(self.workers) < count:
            self.add_worker()

    def kill_worker(self, node: str) -> None:
        """What a lost spot node does: SIGKILL of its raylet and every process on it."""
        worker = self.workers.pop(node)
        for process in [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        worker.wait()
        self.nodes.discard(node)

    def occupy_a_core(self, node: str) -> str:
        """A job of the cluster's that holds one CPU of `node` (its entrypoint asks for it,
        as another team's job would); its id, once it runs. Call it while `node` is the only
        worker with a CPU that can come free."""
        with self._job_client() as client:
            job = client.submit_job(entrypoint="sleep 3600", entrypoint_num_cpus=1)
            deadline = time.monotonic() + 300
            while (info := client.get_job_info(job)).status != "RUNNING":
                assert info.status == "PENDING" and time.monotonic() < deadline, f"the job holding a core: {info}"
                time.sleep(0.5)
        assert info.driver_node_id == node, f"the job holding a core runs on {info.driver_node_id}, not {node}"
        return job

    def release(self, job: str) -> None:
        """Stop a job `occupy_a_core` started."""
        with self._job_client() as client:
            client.stop_job(job)

    @contextmanager
    def _job_client(self):
        """The cluster's job client, with the cluster's token."""
        from jobs.cluster.job_client import connect

        with client_environment(RAY_AUTH_TOKEN_PATH=str(self.token_path)):
            yield connect(self.address)

    def hosting_engines(self) -> dict[str, int]:
        """Worker node id -> engine actors on it."""
        return {node: len(engine_processes(worker)) for node, worker in self.workers.items() if engine_processes(worker)}

    def engine_tree(self, node: str) -> list[psutil.Process]:
        """The engine actors on a worker node and every process they started (vLLM's engine core)."""
        actors = [psutil.Process(pid) for pid in engine_processes(self.workers[node])]
        return [*actors, *(child for actor in actors for child in actor.children(recursive=True))]

    def driver_pids(self) -> list[int]:
        """The submitted jobs' drivers (`python -m jobs.cli run -`), which run on the head."""
        found = []
        for process in psutil.Process(self.head.pid).children(recursive=True):
            try:
                command = process.cmdline()
            except psutil.NoSuchProcess:
                continue
            if command[:4] == ["python", "-m", "jobs.cli", "run"]:
                found.append(process.pid)
        return found

    def client_env(self) -> dict:
        return clean_env(RAY_AUTH_TOKEN_PATH=str(self.token_path))

    def stop(self) -> None:
        for worker in self.workers.values():
            stop_ray(worker)
        stop_ray(self.head)
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
