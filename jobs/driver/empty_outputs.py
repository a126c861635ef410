"""records/ and rejects/ always exist as typed datasets, possibly empty: summary.json
names both folders, and a scheduled reader of rejects/ must not fail on a day without
rejects (nor a reader of records/ on a day of only rejects).

A kind no committed unit wrote gets one empty file of its schema, `part-empty.parquet`
(not `_`-prefixed: pyarrow, DuckDB and Spark skip such files when they read a folder);
no manifest entry lists it, so readers of committed output never see it, and it is
removed once a unit commits rows of that kind.
"""

from jobs.driver.table_output import kind_schemas
from jobs.plan.resolve import ResolvedJob
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import EMPTY_FILE, OutputStore
from schemas.arrow_types import table_from_rows


def write_empty_datasets(store: OutputStore, resolved: ResolvedJob, committed: dict[str, CommittedUnit]) -> None:
    for kind, schema in kind_schemas(resolved).items():
        path = store.path(kind, EMPTY_FILE)
        if any(unit.files.get(kind) for unit in committed.values()):
            store.remove_file(path)
        else:
            store.write_parquet(path, table_from_rows([], schema))  # (Schema.empty_table cannot build nested JSON columns)
