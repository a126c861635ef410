"""What a run reads of its own output: a retry of a few rejects reads only the units that
hold them, and the finish (summary, label distribution, report) reads no output file: it
comes from the committed units the run holds."""

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from jobs.driver.resume import ResumePlan
from jobs.driver.retry_rejects import plan_retry
from jobs.driver.summary import build_summary
from jobs.plan.resolve import resolve_job
from jobs.report import ReportData, write_report
from jobs.spec import JobSpec
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputStore
from operators.usage import Usage
from tests.conftest import job_spec

OLD = "old-fingerprint"


class CountingFileSystem(LocalFileSystem):
    """The local filesystem, noting every file opened for reading."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reads: list[str] = []

    def _open(self, path, mode="rb", **kwargs):
        if "r" in mode:
            self.reads.append(str(path))
        return super()._open(path, mode, **kwargs)


def committed_output(tmp_path, tiny_model, news_data, **task):
    """An output whose every unit is committed by an earlier spec (fingerprint OLD): one
    unit with two `truncated` rejects, the others records only."""
    spec = JobSpec.model_validate(job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)},
                                           output={"uri": str(tmp_path / "out"), "unit_rows": 4}, **task))
    resolved = resolve_job(spec)
    fs = CountingFileSystem()
    store = OutputStore(fs, str(tmp_path / "out"))
    id_column = resolved.id_field.name
    for n, unit in enumerate(resolved.units):
        ids = pq.read_table(unit.path, columns=[id_column]).column(0).to_pylist()[unit.start:unit.start + unit.rows]
        rejected = ids[:2] if n == 1 else []
        staged = {}
        for kind, rows in (("records", [i for i in ids if i not in rejected]), ("rejects", rejected)):
            if rows:
                path = store.path("_staging", f"{kind}-{n}.parquet")
                table = {id_column: rows, "_attempts": [1] * len(rows), "_fingerprint": [OLD] * len(rows)}
                if kind == "rejects":
                    table |= {"reason": ["truncated"] * len(rows), "error": ["cut"] * len(rows), "raw_output": [""] * len(rows)}
                store.write_parquet(path, pa.table(table))
                staged[kind] = [path]
        entry = CommittedUnit(key=unit.key, input_path=unit.path, job_fingerprint=OLD, rows=unit.rows,
                              records=unit.rows - len(rejected), rejects=len(rejected), usage=Usage(10 * unit.rows, unit.rows),
                              reasons={"truncated": len(rejected)} if rejected else {}, start=unit.start,
                              input_size=unit.file.size, input_version=unit.file.version, attempts={1: unit.rows},
                              fingerprints=[OLD], fingerprint_rows={OLD: {"records": unit.rows - len(rejected), "rejects": len(rejected)}})
        store.commit(entry, staged)
    fs.reads.clear()
    return resolved, store, fs


def test_a_retry_of_two_rejects_reads_only_the_unit_that_holds_them(tmp_path, tiny_model, news_data):
    resolved, store, fs = committed_output(tmp_path, tiny_model, news_data)
    assert len(resolved.units) == 6
    plan = plan_retry(resolved, store, reasons=[], label_column=None)
    assert plan.retried_rows == 2 and len(plan.pending) == 1
    parquet_reads = [path for path in fs.reads if path.endswith(".parquet")]
    assert parquet_reads == [store.path(plan.retries[plan.pending[0].key].entry.files["rejects"][0])]


def test_the_finish_reads_no_output_file(tmp_path, tiny_model, news_data):
    resolved, store, fs = committed_output(tmp_path, tiny_model, news_data)
    committed = store.committed()
    summary = build_summary(resolved, ResumePlan(reused=committed, pending=[]), committed, engines=[],
                            engine_seconds=0.0, wall_seconds=1.0, run_id="r", label_column=None)
    assert (summary.records, summary.rejects, summary.input_rows) == (22, 2, 24)
    assert summary.usage == Usage(240, 24)
    fs.reads.clear()
    write_report(store, ReportData(uri=store.uri, summary=summary, units=list(committed.values()), timeline=None))
    assert fs.reads == [], "the report read back what the run holds"
    assert "22 records, 2 rejects" in (tmp_path / "out" / "report.html").read_text()
