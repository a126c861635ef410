"""Reading a job's committed output: the one way every reader (the notebook, `k2batch
eval`, the label distribution) gets records or rejects, and `read_records`, which gives
the records back as the JSON values their schema describes.

Only files the manifest lists are read: on S3 a publish is a copy and a delete, so a
listing of records/ may show a file whose unit never committed (jobs/storage/output_store.py).
An output written to tables (`output.table`) is read through its table format: the
table spec its run left under output.uri (`_table.json`, secrets left out; the store's
credentials come from `storage_options`), or the job's `table`.
"""

import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.tables import table_output_at
from schemas.record_schema import RecordSchema

SCHEMA_METADATA = b"k2batch.schema"  # the record's JSON Schema, in every output file (jobs/driver/summary.py)


def committed_files(uri: str, kind: str, storage_options: dict | None = None) -> list[str]:
    """The `records` or `rejects` files a reader should use: those the manifest lists.
    Local paths as such; object-store paths as URLs (s3://...)."""
    fs, root = filesystem_for(uri, storage_options or {})
    store = OutputStore(fs, root)
    paths = sorted(store.file_path(p) for u in store.committed().values() for p in u.files.get(kind, []))
    return paths if store.is_local else [fs.unstrip_protocol(p) for p in paths]


def read_committed(uri: str, kind: str, storage_options: dict | None = None, *,
                   columns: list[str] | None = None, table=None) -> pa.Table | None:
    """Every committed `records` or `rejects` row (only `columns`, if given) as one table;
    None if there is none. `table`: the job's output.table, if the output was written to tables."""
    fs, root = filesystem_for(uri, storage_options or {})
    output = table_output_at(OutputStore(fs, root), storage_options or {}, table)
    if output is not None:
        return output.read(kind, columns)
    tables = []
    for path in committed_files(uri, kind, storage_options):
        with fs.open(path, "rb") as f:
            tables.append(pq.read_table(f, columns=columns))
    return pa.concat_tables(tables, promote_options="default") if tables else None


def read_records(uri: str, storage_options: dict | None = None, *, table=None) -> dict[Any, Any]:
    """Every committed record by its input id, as the JSON value the job's schema
    describes: JSON columns decoded, maps as objects, absent optional fields absent, a
    wrapped non-object root unwrapped. The schema is the one the files were written with
    (their `k2batch.schema` metadata), so this needs nothing but the output folder."""
    table = read_committed(uri, "records", storage_options, table=table)
    if table is None or table.num_rows == 0:
        return {}
    record_schema = RecordSchema(json_schema=json.loads(table.schema.metadata[SCHEMA_METADATA]), source=uri)
    ids = table.column(0).to_pylist()  # the id column comes first (operators/write_parquet.py)
    rows = table.select(record_schema.arrow_schema.names).to_pylist()
    return {row_id: record_schema.from_arrow_row(row) for row_id, row in zip(ids, rows)}
