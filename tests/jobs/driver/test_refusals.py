"""What `k2batch run` refuses before any engine starts, on the session's finished output
(tests/jobs/finished_job.py): in `output.mode: resume`, a changed model (its folder's
files), revision or schema never reuses the old answers and never mixes with them; and
`--retry-rejects` refuses a mode other than resume, input rows no unit holds, and an
output with nothing committed. Each refusal is one line, exit 2, and leaves the output
byte for byte as it was; the same spec as before still reuses every unit."""

import json
import os

import pytest

from jobs.cli.errors import error_message
from jobs.driver.run import run_job
from jobs.plan.resolve import resolve_job
from jobs.spec import parse_job
from tests.jobs.finished_job import FinishedJob

pytestmark = pytest.mark.engine  # the finished output is an engine's

MIXING = "holds results of another job fingerprint"


def run(job: FinishedJob, *overrides: str, retry_rejects: bool = False):
    """`k2batch run JOB --set OVERRIDE ... [--retry-rejects]`, in this process (nothing
    it refuses reaches Ray or an engine)."""
    return run_job(parse_job(job.job.read_text(), list(overrides)), verbose=True, retry_rejects=retry_rejects)


def refused(job: FinishedJob, *overrides: str, retry_rejects: bool = False) -> str:
    """The one error line of a run that must be refused before it starts (no log folder of
    its own), leaving the output byte for byte as it was; exit code 2."""
    before, logs = job.committed_state(), sorted(job.output.glob("_logs/*"))
    with pytest.raises(Exception) as raised:
        run(job, *overrides, retry_rejects=retry_rejects)
    message, code = error_message(raised.value)
    assert code == 2, message
    assert job.committed_state() == before, "a refused run changed the output"
    assert sorted(job.output.glob("_logs/*")) == logs, "refused after the run started"
    return f"k2batch: error: {message}"


def test_a_model_whose_files_changed_is_another_model(finished_job):
    """Weights retrained in place: same folder, same source string, new files."""
    spec = parse_job(finished_job.job.read_text())
    assert resolve_job(spec).fingerprints == finished_job.summary["fingerprints"], "the output is this spec's, as it is"
    weights = finished_job.model / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        line = refused(finished_job)
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert MIXING in line and "output.mode: overwrite" in line


def test_another_revision_is_another_model(finished_job):
    assert MIXING in refused(finished_job, "model.revision=v2")


def test_another_schema_is_another_job(finished_job, tmp_path):
    schema = tmp_path / "cities.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                                  "required": ["city"]}))
    assert MIXING in refused(finished_job, f"task.schema={schema}")


def test_the_same_spec_reuses_every_unit_without_an_engine(finished_job):
    summary = run(finished_job)
    assert (summary.reused_units, summary.reused_rows, summary.engines) == (summary.units, summary.input_rows, [])
    assert (summary.records, summary.rejects) == (finished_job.summary["records"], finished_job.summary["rejects"])


def test_retry_rejects_refuses_a_mode_that_would_not_keep_the_results(finished_job):
    line = refused(finished_job, "output.mode=overwrite", retry_rejects=True)
    assert line == ("k2batch: error: output.mode: --retry-rejects keeps the committed results, which output.mode "
                    "overwrite does not; use output.mode: resume")


def test_retry_rejects_refuses_input_rows_no_unit_holds(finished_job):
    """The same spec over the whole folder: other.parquet's rows were never run."""
    line = refused(finished_job, f"input.uri=file://{finished_job.data}/", retry_rejects=True)
    assert line == (f"k2batch: error: output.uri {finished_job.output}: 4 input row(s) have no committed result yet "
                    f"(e.g. {finished_job.data}/other.parquet rows 0-4); finish the job with a plain run of the spec "
                    "that started it, then retry its rejects")


def test_retry_rejects_refuses_an_output_with_nothing_committed(finished_job, tmp_path):
    line = refused(finished_job, f"output.uri={tmp_path / 'empty'}", retry_rejects=True)
    assert line == (f"k2batch: error: output.uri {tmp_path / 'empty'} holds no committed results: nothing to retry; "
                    "run the job first")
    assert not (tmp_path / "empty").exists()
