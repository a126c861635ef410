"""Table output end to end on the tiny model (output.table): each format's job runs with
a kill and then to its end, and everything is asserted on those outputs.

- Iceberg through a SQL catalog on SQLite, the warehouse and output.uri on the S3 server:
  the driver SIGKILLed at the moment between the second unit's table commits and its
  manifest entry (tests/jobs/driver/table_kill.py), then re-run.
- Delta on local disk: the driver SIGKILLed once its first unit is committed, re-run,
  then `--retry-rejects` with a larger max_tokens moves the recovered rows from the
  rejects table to the records table.
Every input id ends up once across the two tables, which pyiceberg, deltalake and Polars
read back equal to `read_records`. Five engine starts for the module."""

import json
import signal
import uuid

import polars as pl
import pyarrow.parquet as pq
import pytest

from examples.news_sample import write_sample
from jobs.storage.committed import read_committed, read_records
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.tables import TAG_UNIT, TableOutput
from tests.conftest import job_spec, run_cli, write_job
from tests.jobs.driver.test_resume import end_session, start_cli, wait_for
from tests.jobs.storage.table_units import MotoS3Process
from tests.s3_server import TEST_KEY, TEST_SECRET

pytestmark = pytest.mark.engine

ROWS, UNIT_ROWS = 24, 4
UNITS = ROWS // UNIT_ROWS


class TableJob:
    def __init__(self, folder, tiny_model, *, output_uri: str, table: dict, options: dict | None = None, **model):
        data = folder / "news"
        write_sample(data, rows=ROWS, files=1)
        self.input_ids = sorted(pq.read_table(next(data.iterdir()), columns=["doc_id"]).column(0).to_pylist())
        self.folder, self.output_uri, self.options = folder, output_uri, options or {}
        self.spec = job_spec(input={"uri": str(data)},
                             model={"source": str(tiny_model), "batch_size": 4, "max_batches_in_flight": 1, **model},
                             output={"uri": output_uri, "storage_options": self.options, "unit_rows": UNIT_ROWS,
                                     "max_reject_rate": 1.0, "table": table})
        self.path = write_job(folder, self.spec)
        self.store = OutputStore(*filesystem_for(output_uri, self.options))

    def tables(self) -> TableOutput:
        from jobs.spec.models import TableSpec

        return TableOutput(TableSpec(**self.spec["output"]["table"]), self.store, self.options)

    def entries(self) -> int:
        return len(self.store.committed())

    def ids(self) -> list[str]:
        return sorted(read_committed(self.output_uri, "records", self.options).column("doc_id").to_pylist()
                      + read_committed(self.output_uri, "rejects", self.options).column("doc_id").to_pylist())

    def units_in(self, kind: str) -> list[str]:
        return [tags[TAG_UNIT] for tags in self.tables().tables[kind].history(since="k2batch.truncate") if TAG_UNIT in tags]


@pytest.fixture(scope="module")
def iceberg_job(tmp_path_factory, tiny_model):
    server = MotoS3Process()
    try:
        bucket = server.make_bucket(f"k2b-{uuid.uuid4().hex[:12]}")
        folder = tmp_path_factory.mktemp("iceberg")
        options = {"endpoint_url": server.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}
        job = TableJob(folder, tiny_model, output_uri=f"s3://{bucket}/out", options=options, table={
            "format": "iceberg", "records": "k2.news", "rejects": "k2.news_rejects",
            "catalog": {"type": "sql", "uri": f"sqlite:///{folder}/catalog.db", "warehouse": f"s3://{bucket}/warehouse"}})
        killed = run_cli("2", "run", str(job.path), module="tests.jobs.driver.table_kill")
        at_kill = {"entries": job.entries(), "records": job.units_in("records"), "rejects": job.units_in("rejects")}
        finished = run_cli("run", str(job.path))
        yield job, killed, at_kill, finished
    finally:
        server.stop()


@pytest.fixture(scope="module")
def delta_job(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("delta")
    # max_tokens 100 cuts some of the tiny model's answers off (tests/jobs/driver/test_retry_rejects.py)
    job = TableJob(folder, tiny_model, output_uri=str(folder / "out"), max_tokens=100, table={
        "format": "delta", "records": str(folder / "tables/news"), "rejects": str(folder / "tables/news_rejects")})
    proc = start_cli(folder, "run", str(job.path))
    try:
        wait_for(lambda: job.entries() >= 1, proc, "the first unit was committed")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        end_session(proc.pid)
    at_kill = job.entries()
    finished = run_cli("run", str(job.path))
    before_retry = {kind: read_committed(job.output_uri, kind).num_rows for kind in ("records", "rejects")}
    retried = run_cli("run", str(job.path), "--retry-rejects", "--set", "model.max_tokens=120")
    return job, at_kill, finished, before_retry, retried


def test_iceberg_killed_between_a_table_commit_and_its_manifest_entry_then_rerun_has_each_row_once(iceberg_job):
    job, killed, at_kill, finished = iceberg_job
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert at_kill["entries"] == 1, "the second unit reached the tables, not the manifest"
    assert len(set(at_kill["records"]) | set(at_kill["rejects"])) == 2
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary = json.loads(finished.stdout.splitlines()[-1])
    assert (summary["units"], summary["reused_units"]) == (UNITS, 2), "the unit in the tables is reused, not redone"
    assert summary["records"] + summary["rejects"] == ROWS
    assert summary["output"]["records"] == "iceberg table k2.news"
    assert job.ids() == job.input_ids
    tables = job.tables()
    for kind in ("records", "rejects"):
        units = job.units_in(kind)
        assert len(units) == len(set(units)), f"a unit committed twice to the {kind} table"
    records = tables.tables["records"]._load()
    frame = pl.scan_iceberg(records, reader_override="pyiceberg").collect()
    assert sorted(frame["doc_id"].to_list()) == sorted(read_records(job.output_uri, job.options))
    assert records.scan().to_arrow().num_rows == summary["records"]
    assert json.loads(records.properties["k2batch.json_columns"]) == []
    assert job.store.fs.exists(job.store.path("report.html"))


def test_delta_killed_after_its_first_unit_then_rerun_and_retried_has_each_row_once(delta_job):
    from deltalake import DeltaTable

    job, at_kill, finished, before_retry, retried = delta_job
    assert 1 <= at_kill < UNITS
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert json.loads(finished.stdout.splitlines()[-1])["reused_units"] >= at_kill
    assert retried.returncode == 0, retried.stderr[-3000:]
    summary = json.loads(retried.stdout.splitlines()[-1])
    assert summary["retried_rows"] == before_retry["rejects"] > 0, "max_tokens 100 left no rejects to retry"
    assert summary["recovered_rows"] > 0
    assert job.ids() == job.input_ids
    records = DeltaTable(job.spec["output"]["table"]["records"])
    ours = read_records(job.output_uri)
    assert sorted(records.to_pyarrow_table().column("doc_id").to_pylist()) == sorted(ours)
    assert sorted(pl.read_delta(job.spec["output"]["table"]["records"])["doc_id"].to_list()) == sorted(ours)
    assert len(ours) == summary["records"] == before_retry["records"] + summary["recovered_rows"]
    assert not (job.folder / "out" / "records").exists(), "records go to the table, not to a folder"
