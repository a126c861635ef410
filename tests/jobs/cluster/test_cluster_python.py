"""A Ray cluster whose `python` lacks one of k2batch's dependencies, as a new user makes
one (a head started with `.venv/bin/ray start` outside the activated venv, or an image
without the dependencies): a submitted job ends in one line naming the interpreter, the
missing package and the fixes, with exit code 2, not a traceback and exit 4; and
`submit --pip` installs the missing package into the job's runtime env.

The head runs from a venv of its own whose site-packages are this venv's entries, linked
one by one, without pyarrow (and without k2batch's own install: a submitted job brings
its code as working_dir). Helpers and isolation as in test_submit.py: its own temp dir
and ports, its own token, stopped by its process ids.
"""

import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow
import pytest

from tests.conftest import ROOT, job_spec, write_job
from tests.jobs.cluster.test_submit import cli, clean_env, free_port, ray_start, stop_ray, wait_for_nodes

MISSING = "pyarrow"


def python_without(package: str, folder: Path) -> Path:
    """A venv whose site-packages links every entry of this venv's but `package`'s."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = folder / ours.relative_to(sys.prefix)
    for entry in ours.iterdir():
        if entry.name != package and not entry.name.startswith((f"{package}-", "__editable__")):
            (theirs / entry.name).symlink_to(entry)
    return folder / "bin" / "python"


@dataclass
class BareHead:
    address: str
    python: Path  # the cluster's python, which lacks MISSING
    token_path: Path

    def submit(self, job: Path, *args: str) -> subprocess.CompletedProcess:
        return cli("submit", str(job), "--address", self.address, "--wait", *args,
                   env=clean_env(RAY_AUTH_TOKEN_PATH=str(self.token_path)), timeout=600)


@pytest.fixture(scope="module")
def bare_head(tmp_path_factory):
    temp_dir = tempfile.mkdtemp(prefix="k2p", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    python = python_without(MISSING, tmp_path_factory.mktemp("bare") / "venv")
    token_path = tmp_path_factory.mktemp("ray-token") / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    gcs_port, dashboard_port = free_port(), free_port()
    env = clean_env(PATH=f"{python.parent}:{clean_env()['PATH']}", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
                    RAY_AUTH_TOKEN_PATH=str(token_path))
    log = Path(temp_dir) / "head.log"
    head = ray_start(["--head", f"--port={gcs_port}", f"--ray-client-server-port={free_port()}",
                      "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", "--include-dashboard=true",
                      "--num-cpus=1"], env, log, temp_dir,
                     ray=(str(python), "-c", "from ray.scripts.scripts import main; main()"))
    try:
        address = f"http://127.0.0.1:{dashboard_port}"
        wait_for_nodes(address, 1, [(head, log)], token_path)
        yield BareHead(address=address, python=python, token_path=token_path)
    finally:
        stop_ray(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_the_check_runs_on_the_standard_library_alone():
    """`python -S`: no site-packages at all, so every dependency is missing; the check still
    runs (it imports none of them) and names them in its one line."""
    result = subprocess.run([sys.executable, "-S", "-m", "jobs.cluster.dependency_check"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"k2batch: error: the cluster's python ({sys.executable}, Python ") and \
        "cannot import ray, pyarrow, pandas, pydantic, " in line and "--pip for each of them" in line
    assert subprocess.run([sys.executable, "-m", "jobs.cluster.dependency_check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60).returncode == 0


def test_a_job_on_a_python_without_pyarrow_ends_in_one_line_with_exit_2(bare_head, tmp_path, tiny_model, news_data):
    spec = job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(tmp_path / "out")})
    result = bare_head.submit(write_job(tmp_path, spec))
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    submission_id, *job_lines = result.stdout.strip().splitlines()
    version = subprocess.run([str(bare_head.python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert job_lines == [
        f"k2batch: error: the cluster's python ({bare_head.python}, Python {version}) cannot import pyarrow, which "
        "k2batch needs: submit with --pip 'pyarrow>=19', or run Ray from an image with k2batch's dependencies "
        "(pip install -e \".[gpu]\" or \".[cpu]\"), or start Ray (`ray start`) from k2batch's environment"
    ]
    assert result.stderr.strip().endswith(f"k2batch: job {submission_id} FAILED (exit code 2)"), result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr and not (tmp_path / "out").exists()


def test_pip_installs_the_missing_package_into_the_jobs_environment(bare_head, tmp_path, tiny_model):
    """With `--pip pyarrow==<this venv's>` the job gets past the check and k2batch itself
    runs: its own check of the spec ends it (the input is missing), exit 2."""
    spec = job_spec(input={"uri": str(tmp_path / "no-such-input")}, model={"source": str(tiny_model)},
                    output={"uri": str(tmp_path / "out")})
    result = bare_head.submit(write_job(tmp_path, spec), "--pip", f"pyarrow=={pyarrow.__version__}")
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[1:] == [f"k2batch: error: input.uri: nothing found at {tmp_path / 'no-such-input'}"]
