"""Records and rejects in Apache Iceberg or Delta Lake tables (`output.table`), each unit
committed exactly once per table; the run's folder (output.uri) keeps the manifest, logs,
summary.json and report as for a folder output.

A unit's commit point (`TableOutput.commit`, where a folder output calls
OutputStore.commit; jobs/driver/commit.py):
1. its staged files are moved into the tables' data folders, named
   `k2batch-<unit>-<n>-<token>-<i>.parquet` (n: the unit's table commit; a rename on local
   disk: the files become the tables' data files, no rows are rewritten);
2. one commit per table that gets files (records, then rejects), tagged with the job
   fingerprint, the unit key and the unit's manifest entry (`k2batch.entry`, with n):
   Iceberg snapshot summary properties, Delta commit info plus an app transaction;
3. the manifest entry, written last, as for a folder output.
A crash before 2 leaves moved files no commit lists: the next run deletes them. A crash
during or after 2 leaves a table whose history holds an entry newer than the manifest's:
the next run commits what the other table misses and writes that entry
(jobs/storage/tables/reconcile.py), so no unit is redone or appended twice.
"""

import json
import os
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import KINDS, OutputConflictError, OutputStore
from jobs.storage.redact import redact, register_secrets, secret_values
from jobs.storage.tables.table_schema import incompatibility, plain_schema, table_properties

TABLE_FILE = "_table.json"  # the table spec (secrets left out) under output.uri, for readers
TAG_FINGERPRINT, TAG_UNIT, TAG_ENTRY = "k2batch.job_fingerprint", "k2batch.unit", "k2batch.entry"
TAG_RETIRED = "k2batch.retired_units"  # units whose input changed, taken out of the table
TAG_TRUNCATE = "k2batch.truncate"  # output.mode overwrite: the table emptied; history before it is done with


class TableOutput:
    """The records and rejects tables of one output (`spec`: the job's output.table)."""

    def __init__(self, spec, store: OutputStore, storage_options: dict[str, Any]):
        register_secrets({"catalog": spec.catalog if isinstance(spec.catalog, dict) else None,
                          "storage_options": spec.storage_options})
        self.spec, self.store = spec, store
        if spec.format == "iceberg":
            from jobs.storage.tables.iceberg import IcebergTable, open_catalog

            catalog = open_catalog(spec.catalog, store.root, storage_options)
            self.tables = {kind: IcebergTable(catalog, getattr(spec, kind)) for kind in KINDS}
        else:
            from jobs.storage.tables.credentials import delta_storage_options
            from jobs.storage.tables.delta import DeltaTable

            options = {**delta_storage_options(storage_options), **spec.storage_options}
            self.tables = {kind: DeltaTable(_uri(getattr(spec, kind)), options, stats=self._file_stats) for kind in KINDS}

    def describe(self, kind: str) -> str:
        return redact(f"{self.spec.format} table {getattr(self.spec, kind)}")

    def open(self, schemas: dict[str, pa.Schema], *, mode: str) -> None:
        """Before any engine starts: create a missing table from its kind's schema, refuse an
        incompatible one (naming the column) or, under fail_if_exists, one holding rows;
        leave the table spec for readers (secrets left out)."""
        for kind, table in self.tables.items():
            written = plain_schema(schemas[kind])
            properties = table_properties(schemas[kind])
            existing = table.schema()
            if existing is None:
                try:
                    table.create(written.remove_metadata(), properties)
                except (TypeError, ValueError, NotImplementedError) as err:
                    raise OutputConflictError(f"output.table.{kind}: cannot create {self.describe(kind)}: {err}") from err
            else:
                if problem := incompatibility(written, existing):
                    raise OutputConflictError(f"output.table.{kind}: {self.describe(kind)} does not fit the job's {kind}: "
                                              f"{problem}; drop the table or name another one in output.table.{kind}")
                if mode == "fail_if_exists" and table.has_rows():
                    raise OutputConflictError(f"output.table.{kind}: {self.describe(kind)} already holds rows and "
                                              "output.mode is fail_if_exists")
                now = table.properties()
                if changed := {k: v for k, v in properties.items() if now.get(k) != v}:
                    table.set_properties(changed)  # the provenance of the spec that writes now
            protocol = table.data_uri.split("://")[0] if "://" in table.data_uri else "file"
            if protocol not in (self.store.fs.protocol if isinstance(self.store.fs.protocol, tuple) else (self.store.fs.protocol,)):
                raise OutputConflictError(
                    f"output.table.{kind}: {self.describe(kind)} lives at {redact(table.data_uri)}, on another store than "
                    f"output.uri ({self.store.uri}): a unit's files are moved into the table, not copied; put output.uri "
                    "on the tables' store")
        self.store.write_text(TABLE_FILE, json.dumps(_without_secrets(self.spec.model_dump()), indent=2, sort_keys=True))

    def commit(self, unit: CommittedUnit, staged: dict[str, list[str]]) -> CommittedUnit:
        """Move a finished unit's staged files into the tables, commit them, then write its entry."""
        return self.replace(unit, staged, [])

    def replace(self, unit: CommittedUnit, staged: dict[str, list[str]], drop: list[str]) -> CommittedUnit:
        """Commit a unit whose `drop` files leave the tables (a retry's, jobs/driver/retry_rejects.py)
        as `staged` join them. The dropped files stay for time travel: snapshot expiry or
        vacuum deletes them (docs/table-output.md)."""
        unit.table_commit += 1
        token = uuid.uuid4().hex[:8]
        added: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for kind, paths in staged.items():
            for n, path in enumerate(paths):
                uri = f"{self.tables[kind].data_uri}/k2batch-{unit.key}-{unit.table_commit}-{token}-{n}.parquet"
                self.store.move(path, self.store.file_path(uri))
                added[kind].append(uri)
                unit.files.setdefault(kind, []).append(uri)
        removed = {kind: [p for p in drop if p.startswith(self.tables[kind].data_uri + "/")] for kind in KINDS}
        self.apply(unit, added, removed, KINDS)
        self.store.write_entry(unit)
        return unit

    def apply(self, unit: CommittedUnit, added: dict[str, list[str]], removed: dict[str, list[str]], kinds) -> None:
        """The unit's commit to each of `kinds`' tables that gets or loses files."""
        tags = {TAG_FINGERPRINT: unit.fingerprints[-1] if unit.fingerprints else unit.job_fingerprint, TAG_UNIT: unit.key,
                TAG_ENTRY: json.dumps(json.loads(unit.to_json()), separators=(",", ":"))}
        for kind in kinds:
            if added[kind] or removed[kind]:
                self.tables[kind].commit(added[kind], removed[kind], tags, unit=unit.key, version=unit.table_commit)

    def retire(self, units: list[CommittedUnit]) -> None:
        """Take units whose input file changed or is gone out of the tables (one commit per
        table), before their entries are deleted: a crash in between retires them again."""
        for kind, table in self.tables.items():
            listed = [p for unit in units for p in unit.files.get(kind, [])]
            live = table.live_files() if listed else set()
            if gone := [p for p in listed if p in live]:
                table.commit([], gone, {TAG_RETIRED: json.dumps(sorted(u.key for u in units))}, unit="", version=0)

    def check_live(self, kind: str, paths: list[str]) -> None:
        """Before a retry: the files its entries list must still be the table's (a compaction
        replaces them, and removing them then would leave the retried rows in the table)."""
        if paths and (gone := sorted(set(paths) - self.tables[kind].live_files())):
            raise OutputConflictError(
                f"output.table.{kind}: {self.describe(kind)} no longer holds {len(gone)} file(s) its units list (e.g. "
                f"{redact(gone[0])}): it was compacted or changed outside k2batch, so --retry-rejects cannot replace "
                "its rows; retry rejects before compacting, or re-run the job with output.mode: overwrite")

    def truncate(self, job_fingerprint: str) -> None:
        """output.mode overwrite: every table emptied in one commit each (time travel keeps the rows)."""
        for table in self.tables.values():
            table.truncate({TAG_TRUNCATE: job_fingerprint})

    def read(self, kind: str, columns: list[str] | None = None) -> pa.Table:
        """The table's rows, its k2batch properties as the schema's metadata (as a Parquet
        file of the folder output has them)."""
        table = self.tables[kind]
        return table.read(columns).replace_schema_metadata(
            {k: v for k, v in table.properties().items() if k.startswith("k2batch.")})

    def _file_stats(self, uri: str) -> tuple[int, int]:
        """A data file's bytes and rows (its footer): Delta's add action carries them."""
        path = self.store.file_path(uri)
        with self.store.fs.open(path, "rb") as f:
            return self.store.fs.size(path), pq.ParquetFile(f).metadata.num_rows


def table_output_at(store: OutputStore, storage_options: dict[str, Any], spec=None) -> TableOutput | None:
    """The tables of the output at `store`: `spec` (a job's output.table) or the one its
    run left there; None for a folder output."""
    if spec is None:
        text = store.read_text(TABLE_FILE)
        if text is None:
            return None
        from jobs.spec.models import TableSpec

        spec = TableSpec.model_validate_json(text)
    return TableOutput(spec, store, storage_options)


def check_output_kind(committed: dict[str, CommittedUnit], tables: TableOutput | None, uri: str) -> None:
    """Units of a folder output never mix with a table output's, nor the other way round."""
    for entry in committed.values():
        in_tables = any("://" in p for paths in entry.files.values() for p in paths)
        if entry.files and in_tables != (tables is not None):
            held, wanted = ("tables", "folders") if in_tables else ("folders", "tables")
            raise OutputConflictError(
                f"output.uri {uri} holds results written to {held} and this job writes {wanted} (output.table); "
                "use output.mode: overwrite, or a new output.uri")


def _uri(location: str) -> str:
    """A delta table's location as a URI (a local path made absolute)."""
    if "://" in location:
        return location.rstrip("/")
    return "file://" + os.path.abspath(location).rstrip("/")


def _without_secrets(data: dict) -> dict:
    hidden = secret_values(data)

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not (isinstance(v, str) and v in hidden)}
        return value

    return strip(data)
