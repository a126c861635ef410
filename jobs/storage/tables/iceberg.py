"""One Apache Iceberg table through a pyiceberg catalog: a unit's Parquet files become
the table's data files as they are (`add_files`: no rows rewritten), in one snapshot
whose summary carries k2batch's tags (jobs/storage/tables/__init__.py)."""

import os
from typing import Any

import pyarrow as pa

from jobs.storage.tables.credentials import iceberg_file_io

EMBEDDED = "_iceberg"  # the embedded catalog's folder under a local output.uri


def open_catalog(catalog: str | dict[str, Any] | None, output_root: str, storage_options: dict[str, Any]):
    """The catalog `output.table.catalog` names; a SQL catalog on SQLite under the output
    folder when it names none."""
    from pyiceberg.catalog import load_catalog

    if isinstance(catalog, str):
        return load_catalog(catalog)
    props = dict(catalog or {"type": "sql", "uri": f"sqlite:///{output_root}/{EMBEDDED}/catalog.db",
                             "warehouse": f"file://{output_root}/{EMBEDDED}/warehouse"})
    if props.get("type") == "sql" and str(props.get("uri", "")).startswith("sqlite:///"):
        os.makedirs(os.path.dirname(props["uri"].removeprefix("sqlite:///")) or ".", exist_ok=True)
    for name, value in iceberg_file_io(storage_options).items():
        props.setdefault(name, value)
    return load_catalog(str(props.pop("name", "k2batch")), **{k: str(v) for k, v in props.items()})


class IcebergTable:
    def __init__(self, catalog, identifier: str):
        self.catalog = catalog
        self.name = identifier
        self._table = None

    def _load(self):
        from pyiceberg.exceptions import NoSuchTableError

        if self._table is None:
            try:
                self._table = self.catalog.load_table(self.name)
            except NoSuchTableError:
                return None
        return self._table

    def schema(self) -> pa.Schema | None:
        table = self._load()
        return None if table is None else table.schema().as_arrow()

    def create(self, schema: pa.Schema, properties: dict[str, str]) -> None:
        self.catalog.create_namespace_if_not_exists(self.name.rsplit(".", 1)[0])
        table = self.catalog.create_table(self.name, schema=schema, properties=properties)
        # add_files maps a file's columns to the table's by name: set the mapping now, not in a unit's commit.
        with table.transaction() as tx:
            tx.set_properties(**{"schema.name-mapping.default": table.schema().name_mapping.model_dump_json()})
        self._table = table

    @property
    def data_uri(self) -> str:
        return f"{self._load().location().rstrip('/')}/data"

    def properties(self) -> dict[str, str]:
        return dict(self._load().properties)

    def set_properties(self, properties: dict[str, str]) -> None:
        with self._load().transaction() as tx:
            tx.set_properties(**properties)

    def has_rows(self) -> bool:
        snapshot = self._load().current_snapshot()
        return snapshot is not None and int((snapshot.summary or {}).get("total-records", "0")) > 0

    def commit(self, add: list[str], remove: list[str], tags: dict[str, str], *, unit: str, version: int) -> None:
        """One snapshot: `add` files appended, `remove` files (the table's own) removed."""
        table = self._load()
        with table.transaction() as tx:
            if not remove:
                # Names are unique per commit: no need to scan every manifest for duplicates.
                tx.add_files(add, snapshot_properties=tags, check_duplicate_files=False)
                return
            from pyiceberg.io.pyarrow import parquet_file_to_data_file

            removed = set(remove)
            old = [task.file for task in table.scan().plan_files() if task.file.file_path in removed]
            with tx.update_snapshot(snapshot_properties=tags).overwrite() as snapshot:
                for data_file in old:
                    snapshot.delete_data_file(data_file)
                for path in add:
                    snapshot.append_data_file(parquet_file_to_data_file(table.io, tx.table_metadata, path))

    def live_files(self) -> set[str]:
        table = self._load()
        return {task.file.file_path for task in table.scan().plan_files()} if table.current_snapshot() else set()

    def truncate(self, tags: dict[str, str]) -> None:
        from pyiceberg.expressions import AlwaysTrue

        table = self._load()
        if table.current_snapshot() is not None:
            with table.transaction() as tx:
                tx.delete(AlwaysTrue(), snapshot_properties=tags)

    def history(self, since: str) -> list[dict[str, str]]:
        """The summaries of the current snapshot's ancestors, oldest first, after the last
        one that has the `since` property."""
        from pyiceberg.table.snapshots import ancestors_of

        table = self._load()
        found = []
        for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
            summary = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
            if since in summary:
                break
            found.append(summary)
        return found[::-1]

    def read(self, columns: list[str] | None) -> pa.Table:
        table = self._load()
        scan = table.scan(selected_fields=tuple(columns) if columns else ("*",))
        return scan.to_arrow()
