"""summary.json through its model: the published JSON Schema is current, and a summary
survives the round trip through the output store unchanged."""

import json
from pathlib import Path

from fsspec.implementations.local import LocalFileSystem

from jobs.storage.output_store import OutputStore
from jobs.storage.run_summary import EngineRun, OutputFolders, RunSummary

ROOT = Path(__file__).resolve().parents[3]


def test_the_published_json_schema_is_current():
    published = json.loads((ROOT / "docs/summary.schema.json").read_text())
    assert published == RunSummary.model_json_schema(), (
        "docs/summary.schema.json is out of date: python -m jobs.storage.run_summary > docs/summary.schema.json")


def test_a_summary_is_written_and_read_back_through_the_model(tmp_path):
    summary = RunSummary(name="news", run_id="r1", input_rows=3, records=2, rejects=1, reject_reasons={"truncated": 1},
                         prompt_tokens=30, completion_tokens=6, cached_prompt_tokens=12, units=1, reused_units=0,
                         reused_rows=0, engines=[EngineRun(node_id="n1", restarts=0, rows=3)], wall_seconds=1.5,
                         fingerprints={"job": "fp"}, model="m", output=OutputFolders(records="o/records/", rejects="o/rejects/"),
                         k2batch_version="0.1.0", label_distribution={"a": 2, "b": 0})
    store = OutputStore(LocalFileSystem(), str(tmp_path))
    assert store.read_summary() is None
    store.write_summary(summary)
    assert store.read_summary() == summary
    written = json.loads((tmp_path / "summary.json").read_text())
    assert "report" not in written and "logs" not in written, "unset optional fields are left out, as before"
    assert written["engines"] == [{"node_id": "n1", "restarts": 0, "rows": 3}] and written["lost_nodes"] == []
