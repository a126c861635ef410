"""Shared fixtures: the tiny random-weight model (written once per session), demo
data, job specs written to a temp folder, and the `k2batch` CLI run as a user runs it."""

import os
import subprocess
import sys
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


def run_cli(*args: str, timeout: float = 600, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`k2batch ARGS` in a fresh process, exactly as a user or a scheduler runs it."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


# A test that may be the first to ask for `trained_model` trains it inside its own time
# limit: 2,000 steps on one core took from ~10 to ~26 minutes on machines of this kind.
TRAINING_TIMEOUT_S = 2400


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The tiny model trained on the demo task (jobs/devtools/train_testmodel.py), once per session:
    10 to 26 minutes on one core."""
    from jobs.devtools.train_testmodel import train_test_model

    path = tmp_path_factory.mktemp("models") / "k2-trained"
    train_test_model(path, log=None)
    return path


