"""One finished `k2batch run` on the tiny model that many tests read, so that spec
switches and refusals that need a finished output cost one engine start for the session
(registered in tests/jobs/conftest.py).

The run sets what no other test sets: `input.uri` a `file://` glob (beside a Parquet file
it does not match), `task.system_prompt`, `task.prime_tool_call: false`,
`task.dedup: false` (on an input that repeats a prompt, at temperature 0 where dedup
would be on), `--run-id` and `K2BATCH_LOG_LEVEL=debug`; the model is a copy of the tiny
model of its own, whose files a test may touch; a blank row makes a reject, and
`output.max_reject_rate: 0` turns it into exit code 3. Tests that use it must leave its
committed units as they found them."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from tests.conftest import job_spec, run_cli, write_job

RUN_ID = "finished-run-7"
SYSTEM_PROMPT = "You fill in tools from news. Your tools: {tools} Answer with one call."
DUPLICATED, BLANK = "dup-doc-00000", "blank-0"  # part-2's rows: doc-00000's text again, and an empty body


@dataclass
class FinishedJob:
    folder: Path
    data: Path  # part-0..2.parquet (the glob's) and other.parquet (not matched)
    model: Path
    output: Path
    job: Path  # the spec file
    spec: dict
    result: CompletedProcess  # the run
    summary: dict  # its summary.json (later runs over the output write their own)

    def matched_ids(self) -> list[str]:
        return sorted(i for p in self.data.glob("part-*.parquet") for i in pq.read_table(p).column("doc_id").to_pylist())

    def committed_state(self) -> dict[str, bytes]:
        """The committed units' entries and files, byte for byte."""
        return {str(p.relative_to(self.output)): p.read_bytes() for kind in ("_manifest", "records", "rejects")
                for p in sorted((self.output / kind).glob("*"))}


def finished_inputs(data: Path) -> None:
    write_sample(data, rows=12, files=2)
    first = pq.read_table(data / "part-0.parquet").slice(0, 1)
    blank = first.set_column(first.schema.get_field_index("body"), "body", pa.array([""]))
    extra = pa.concat_tables([first, blank])
    pq.write_table(extra.set_column(0, "doc_id", pa.array([DUPLICATED, BLANK])), data / "part-2.parquet")
    other = pq.read_table(data / "part-1.parquet").slice(0, 4)
    pq.write_table(other.set_column(0, "doc_id", pa.array([f"other-{i}" for i in range(4)])), data / "other.parquet")


@pytest.fixture(scope="session")
def finished_job(tmp_path_factory, tiny_model) -> FinishedJob:
    return run_finished_job(tmp_path_factory.mktemp("finished"), tiny_model)


def run_finished_job(folder: Path, tiny_model: Path) -> FinishedJob:
    model = folder / "model"
    shutil.copytree(tiny_model, model)
    finished_inputs(folder / "news")
    spec = job_spec(
        name="finished",
        input={"uri": f"file://{folder / 'news'}/part-*.parquet"},
        task={"system_prompt": SYSTEM_PROMPT, "prime_tool_call": False, "dedup": False},
        model={"source": str(model)},
        output={"uri": f"file://{folder / 'out'}", "max_reject_rate": 0.0},
    )
    job = write_job(folder, spec)
    result = run_cli("run", str(job), "--run-id", RUN_ID, env={"K2BATCH_LOG_LEVEL": "debug"})
    (folder / "stdout").write_text(result.stdout)  # for a look after a failed test
    (folder / "stderr").write_text(result.stderr)
    assert result.returncode == 3, result.stderr[-3000:]
    return FinishedJob(folder=folder, data=folder / "news", model=model, output=folder / "out", job=job, spec=spec,
                       result=result, summary=json.loads((folder / "out" / "summary.json").read_text()))
