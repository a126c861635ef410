"""Units committed to real tables without an engine: a small record schema with a JSON
column, an enum, a struct list and a map, files staged as the writer stages them for a
table (operators/write_parquet.py, plain types), and one TableOutput per format and store."""

import json
import socket
import subprocess
import sys
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.spec.models import TableSpec
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.tables import TableOutput
from operators.write_parquet import plain_schema, records_arrow_schema, rejects_arrow_schema
from schemas.arrow_types import table_from_rows
from schemas.record_schema import RecordSchema
from tests.s3_server import MotoS3

RECORD_SCHEMA = {
    "type": "object", "required": ["city", "headlines"],
    "properties": {
        "city": {"type": "string"},
        "topic": {"enum": ["politics", "science"]},
        "extra": {},  # any JSON value: a JSON column
        "headlines": {"type": "array", "items": {"type": "object", "required": ["title"],
                                                 "properties": {"title": {"type": "string"}}}},
        "scores": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
FINGERPRINT = "fp-table-test"


def schemas(fingerprint: str = FINGERPRINT) -> dict[str, pa.Schema]:
    record_schema = RecordSchema(json_schema=RECORD_SCHEMA, source="test")
    metadata = {"k2batch.schema": json.dumps(RECORD_SCHEMA, sort_keys=True), "k2batch.job_fingerprint": fingerprint,
                "k2batch.model": "tiny"}
    id_field = pa.field("doc_id", pa.string())
    return {"records": records_arrow_schema(id_field, record_schema, metadata), "rejects": rejects_arrow_schema(id_field, metadata)}


def record(row_id: str) -> dict:
    return {"city": f"city of {row_id}", "topic": "science", "extra": {"seen": [row_id, 1]},
            "headlines": [{"title": f"news {row_id}"}], "scores": {"a": 1}}


class Tables:
    """One output folder and its two tables (`fmt`: iceberg or delta; `root`: local path or s3://bucket/prefix)."""

    def __init__(self, fmt: str, root: str, storage_options: dict | None = None, fingerprint: str = FINGERPRINT):
        self.fmt, self.root, self.options, self.fingerprint = fmt, root, dict(storage_options or {}), fingerprint
        catalog_db = self.options.pop("_catalog_db", None)
        if fmt == "iceberg":
            catalog = None
            if root.startswith("s3://"):  # the SQLite file is local; the warehouse is on the S3 server
                catalog = {"type": "sql", "uri": f"sqlite:///{catalog_db}", "warehouse": f"{root}/warehouse"}
            self.spec = TableSpec(format="iceberg", records="k2.news", rejects="k2.news_rejects", catalog=catalog)
        else:
            self.spec = TableSpec(format="delta", records=f"{root}/tables/news", rejects=f"{root}/tables/news_rejects")
        self.schemas = schemas(fingerprint)

    def open(self, mode: str = "resume") -> TableOutput:
        """A fresh store and TableOutput on the output, as a new run opens them."""
        self.store = OutputStore(*filesystem_for(self.root, self.options))
        output = TableOutput(self.spec, self.store, self.options)
        output.open(self.schemas, mode=mode)
        return output

    def stage(self, kind: str, ids: list[str]) -> str:
        """A staged file of `kind` holding `ids`, typed as the writer writes a table's files."""
        rows = ([{"doc_id": i, **RecordSchemaRow.of(i), "_attempts": 1, "_prompt_tokens": 9, "_completion_tokens": 3,
                  "_truncated": False, "_fingerprint": self.fingerprint} for i in ids] if kind == "records" else
                [{"doc_id": i, "reason": "schema_invalid", "error": "bad", "raw_output": "{", "_attempts": 3,
                  "_fingerprint": self.fingerprint} for i in ids])
        table = table_from_rows(rows, plain_schema(self.schemas[kind]))
        path = f"{self.store.new_staging_dir()}/{kind}-{uuid.uuid4().hex}.parquet"
        if self.store.is_local:
            self.store.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with self.store.fs.open(path, "wb") as f:
            pq.write_table(table, f)
        return path

    def unit(self, key: str, records: list[str], rejects: list[str]) -> tuple[CommittedUnit, dict[str, list[str]]]:
        """A finished unit's entry and its staged files."""
        entry = CommittedUnit(key=key, input_path="in/part-0.parquet", job_fingerprint=self.fingerprint,
                              rows=len(records) + len(rejects), records=len(records), rejects=len(rejects), start=0,
                              input_size=1, input_version="v1", fingerprints=[self.fingerprint],
                              fingerprint_rows={self.fingerprint: {"records": len(records), "rejects": len(rejects)}},
                              reasons={"schema_invalid": len(rejects)} if rejects else {})
        staged = {kind: [self.stage(kind, ids)] for kind, ids in (("records", records), ("rejects", rejects)) if ids}
        return entry, staged


class RecordSchemaRow:
    _schema = RecordSchema(json_schema=RECORD_SCHEMA, source="test")

    @classmethod
    def of(cls, row_id: str) -> dict:
        return cls._schema.to_arrow_row(record(row_id))


class MotoS3Process(MotoS3):
    """The S3 server as its own process: delta-rs holds the GIL through some calls
    (`DeltaTable.history`), so a server thread in the same process could never answer them."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.endpoint_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
