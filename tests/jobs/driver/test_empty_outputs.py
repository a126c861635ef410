"""records/ and rejects/ always exist after a run, typed: a kind no unit wrote is one
empty file of its schema, which a later unit with rows of that kind replaces."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.driver.empty_outputs import write_empty_datasets
from jobs.plan.resolve import resolve_job
from jobs.spec import JobSpec
from jobs.storage.committed import committed_files
from jobs.storage.filesystem import filesystem_for
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputStore
from tests.conftest import job_spec


def commit(store: OutputStore, key: str, kind: str) -> CommittedUnit:
    staged = store.path("_staging", f"{key}.parquet")
    store.fs.pipe_file(staged, b"not read here")
    unit = CommittedUnit(key=key, input_path=f"in/{key}", job_fingerprint="fp", rows=1, records=kind == "records",
                         rejects=kind == "rejects", start=0, fingerprints=["fp"])
    return store.commit(unit, {kind: [staged]})


def test_a_kind_no_unit_wrote_is_an_empty_typed_dataset(tmp_path, tiny_model, news_data):
    out = tmp_path / "out"
    schema_path = tmp_path / "tags.json"  # a nested JSON column: the empty file must still be typed
    schema_path.write_text(json.dumps({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": ["string", "integer"]}}}}))
    spec = JobSpec.model_validate(job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)},
                                           task={"schema": str(schema_path)}, output={"uri": str(out)}))
    resolved = resolve_job(spec)
    store = OutputStore(*filesystem_for(str(out), {}))
    store.settle(store.prepare(mode="resume", job_fingerprint="fp", upgrade=dict), reused={})
    committed = {"a": commit(store, "a", "rejects")}  # a day of only rejects
    write_empty_datasets(store, resolved, committed)

    records = pq.read_table(out / "records")  # what a scheduled reader of the folder does
    assert records.num_rows == 0 and records.schema.names[:2] == ["doc_id", "tags"]
    assert records.schema.field("tags").type == pa.list_(pa.json_())
    assert records.schema.metadata[b"k2batch.job_fingerprint"] == resolved.fingerprints["job"].encode()
    assert not (out / "rejects" / "part-empty.parquet").exists()
    assert committed_files(str(out), "records") == [], "readers of committed output never see it"

    again = OutputStore(*filesystem_for(str(out), {}))
    earlier = again.prepare(mode="resume", job_fingerprint="fp", upgrade=dict)
    assert set(earlier) == {"a"}
    again.settle(earlier, reused=earlier)
    assert (out / "records" / "part-empty.parquet").exists(), "a resumed run does not take it for a crashed run's file"
    committed["b"] = commit(again, "b", "records")
    write_empty_datasets(again, resolved, committed)
    assert [p.name for p in (out / "records").iterdir()] == ["part-b-0.parquet"]
