"""Fail fast, never hang: each broken setup ends `k2batch run` within two minutes with
one clear error line and an exit code, before any row is committed."""

import json
import shutil
import time

import pytest

from tests.conftest import job_spec, run_cli, write_job

BOUND_S = 120


def run_and_time(tmp_path, spec) -> tuple[int, str, float]:
    started = time.monotonic()
    result = run_cli("run", str(write_job(tmp_path, spec)), timeout=BOUND_S + 60)
    elapsed = time.monotonic() - started
    last = result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out" / "_manifest").exists(), "no unit may be committed"
    return result.returncode, last, elapsed


@pytest.fixture
def spec(tmp_path, tiny_model, news_data):
    return job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(tmp_path / "out")})


def test_missing_model_path(tmp_path, spec):
    spec["model"]["source"] = str(tmp_path / "no-model")
    code, line, elapsed = run_and_time(tmp_path, spec)
    assert code == 2 and elapsed < BOUND_S
    assert line == f"k2batch: error: model.source: no model folder at {tmp_path / 'no-model'} " \
                   f"(write the demo model with `k2batch testmodel {tmp_path / 'no-model'}`)"


def test_schema_the_backend_cannot_compile(tmp_path, spec):
    schema = tmp_path / "impossible.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer", "minimum": 3, "maximum": 1}}}))
    spec["task"]["schema"] = str(schema)
    code, line, elapsed = run_and_time(tmp_path, spec)
    assert code == 2 and elapsed < BOUND_S
    assert line.startswith("k2batch: error: task.schema: /properties/n/minimum: the structured-output backend (xgrammar) cannot compile it")


def test_tensor_parallel_larger_than_any_node(tmp_path, spec):
    spec["model"]["tensor_parallel_size"] = 64
    code, line, elapsed = run_and_time(tmp_path, spec)
    assert code == 2 and elapsed < BOUND_S
    assert line.startswith("k2batch: error: model.tensor_parallel_size: one replica needs 64 CPU core(s) on one node")


@pytest.mark.engine
def test_engine_that_dies_at_start(tmp_path, spec, tiny_model):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").write_bytes(b"\0" * 1000)  # the weights are unreadable
    spec["model"]["source"] = str(broken)
    code, line, elapsed = run_and_time(tmp_path, spec)
    assert code == 4 and elapsed < BOUND_S
    assert line.startswith("k2batch: error: the vLLM engine failed to start:")
