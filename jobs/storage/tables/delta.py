"""One Delta Lake table through delta-rs (`deltalake`). A unit's Parquet files become the
table's data files as they are: delta-rs commits add (and remove) actions for files
already in the table's folder (`create_write_transaction`), in one version whose commit
info carries k2batch's tags and an app transaction per unit (`k2batch-<unit key>`, its
version the unit's table commit). delta-rs takes each added file's statistics from the
caller: k2batch gives `numRecords` (from the file's footer) and no column min/max, so
readers count rows from the log but skip no file by value."""

import json
import time

import pyarrow as pa


class DeltaTable:
    def __init__(self, uri: str, storage_options: dict[str, str], *, stats):
        self.uri = uri.rstrip("/")
        self.stats = stats  # a file's (bytes, rows), read from its footer
        self.name = uri
        self.options = storage_options or None
        self._table = None

    def _load(self):
        from deltalake import DeltaTable as Table
        from deltalake.exceptions import TableNotFoundError

        if self._table is None:
            try:
                self._table = Table(self.uri, storage_options=self.options)
            except TableNotFoundError:
                return None
        else:
            self._table.update_incremental()
        return self._table

    def schema(self) -> pa.Schema | None:
        table = self._load()
        return None if table is None else pa.schema(table.schema().to_arrow())

    def create(self, schema: pa.Schema, properties: dict[str, str]) -> None:
        from deltalake import DeltaTable as Table

        # k2batch's own keys are not Delta's: delta-rs keeps them when told not to check.
        self._table = Table.create(self.uri, schema=schema.remove_metadata(), configuration=properties,
                                   storage_options=self.options, raise_if_key_not_exists=False)

    @property
    def data_uri(self) -> str:
        return self.uri

    def properties(self) -> dict[str, str]:
        return dict(self._load().metadata().configuration)

    def set_properties(self, properties: dict[str, str]) -> None:
        self._load().alter.set_table_properties(properties, raise_if_not_exists=False)

    def has_rows(self) -> bool:
        table = self._load()
        return bool(table.file_uris())

    def commit(self, add: list[str], remove: list[str], tags: dict[str, str], *, unit: str, version: int) -> None:
        """One version: `add` files added, `remove` files (the table's own) removed."""
        from deltalake.transaction import AddAction, CommitProperties, RemoveAction, Transaction

        table = self._load()
        now = int(time.time() * 1000)
        actions = [AddAction(self._relative(p), size, {}, now, True, json.dumps({"numRecords": rows}))
                   for p in add for size, rows in [self.stats(p)]]
        actions += [RemoveAction(self._relative(p), True, now) for p in remove]
        table.create_write_transaction(actions, mode="append", schema=table.schema(), commit_properties=CommitProperties(
            custom_metadata=tags, app_transactions=[Transaction(f"k2batch-{unit}", version)] if unit else None))

    def _relative(self, uri: str) -> str:
        return uri[len(self.uri) + 1:] if uri.startswith(self.uri + "/") else uri

    def live_files(self) -> set[str]:
        table = self._load()
        return {f"{self.uri}/{path}" for path in pa.table(table.get_add_actions()).column("path").to_pylist()}

    def truncate(self, tags: dict[str, str]) -> None:
        from deltalake.transaction import CommitProperties

        table = self._load()
        if table.file_uris():
            table.delete(commit_properties=CommitProperties(custom_metadata=tags))

    def history(self, since: str) -> list[dict[str, str]]:
        """The commit infos, oldest first, after the last one that has the `since` key."""
        found = []
        for commit in self._load().history():
            if since in commit or str(commit.get("operation", "")).startswith("CREATE OR REPLACE"):
                break
            found.append({k: v for k, v in commit.items() if isinstance(v, str)})
        return found[::-1]

    def read(self, columns: list[str] | None) -> pa.Table:
        return self._load().to_pyarrow_table(columns=columns)
