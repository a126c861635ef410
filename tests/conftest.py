"""Shared fixtures: the tiny random-weight model (written once per session), demo
data, job specs written to a temp folder, and the `k2batch` CLI run as a user runs it."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from jobs.devtools.testmodel import write_test_model

    return write_test_model(tmp_path_factory.mktemp("models") / "k2-tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    from operators.tokenizer import load_tokenizer

    return load_tokenizer(str(tiny_model))


@pytest.fixture
def news_data(tmp_path) -> Path:
    from examples.news_sample import write_sample

    folder = tmp_path / "news"
    write_sample(folder, rows=24, files=3)
    return folder


def job_spec(**sections) -> dict:
    """The demo job's spec, with sections replaced or updated by `sections`."""
    spec = yaml.safe_load((ROOT / "jobs/examples/news_extract.yaml").read_text())
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(spec.get(name), dict):
            spec[name] = {**spec[name], **value}
        else:
            spec[name] = value
    return spec


def write_job(folder: Path, spec: dict, name: str = "job.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def read_kind(out: Path, kind: str):
    """A finished run's `records/` or `rejects/` as a user reads it: pandas.read_parquet of
    the folder. Both folders always exist, a kind without rows as a typed empty dataset
    (jobs/driver/empty_outputs.py), so a missing one fails here instead of reading as an
    empty frame; and the folder holds the rows the manifest lists, no more, no fewer."""
    import pandas as pd

    from jobs.storage.committed import read_committed

    assert kind in ("records", "rejects"), kind
    folder = Path(out) / kind
    assert folder.is_dir(), f"{kind}/ is missing from {out}: records/ and rejects/ must always exist"
    frame = pd.read_parquet(folder)
    committed = read_committed(str(out), kind)
    assert len(frame) == (0 if committed is None else committed.num_rows), f"{kind}/ holds rows no manifest entry lists"
    return frame


def run_cli(*args: str, timeout: float = 600, env: dict | None = None, cwd: Path = ROOT,
            module: str = "jobs.cli") -> subprocess.CompletedProcess:
    """`k2batch ARGS` in a fresh process, exactly as a user or a scheduler runs it
    (`module`: a script that runs it with a stand-in part, e.g. a wedged engine)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# The trained demo model costs ~14 CPU-minutes (jobs/devtools/train_testmodel.py). It trains
# in a background process from the start of the session, at the lowest CPU priority, so
# that it takes only the core time the other tests leave idle (waiting on Ray, engine
# starts, subprocesses); the tests that need it run last and wait for it. Its weights do
# not depend on what else runs (pinned kernels, one thread).
TRAINING_TIMEOUT_S = 2400


def _needs_trained_model(item) -> bool:
    return "trained_model" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    waiting = [item for item in items if _needs_trained_model(item)]
    items[:] = [item for item in items if not _needs_trained_model(item)] + waiting


def pytest_collection_finish(session):
    """Start training once the tests to run are known (after -m/-k deselection), only if one needs it."""
    if session.config.option.collectonly or not any(_needs_trained_model(item) for item in session.items):
        return
    folder = Path(tempfile.mkdtemp(prefix="k2batch-trained-"))
    log = open(folder / "training.log", "w")
    session.config._k2batch_training = (folder, log, subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "testmodel", str(folder / "k2-trained"), "--train"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.nice(19), start_new_session=True,
    ))


def pytest_unconfigure(config):
    training = getattr(config, "_k2batch_training", None)
    if training:
        folder, log, process = training
        if process.poll() is None:  # the CLI and the training process it started
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def trained_model(pytestconfig) -> Path:
    """The tiny model trained on the demo task, by the background process started at
    collection: waits for it to finish."""
    folder, _, process = pytestconfig._k2batch_training
    if process.wait() != 0:
        pytest.fail(f"training the demo model failed:\n{(folder / 'training.log').read_text()[-3000:]}")
    return folder / "k2-trained"
