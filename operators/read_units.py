"""Ray Data source: the pending units of a job, one read task per unit, each reading
only its rows (the row groups it covers, or the part of one big row group it is).

One task per unit makes one block per unit: the engine stage emits a block's answers
when the block ends, and a unit commits once its last row is written, so a unit's rows
must not share a block with rows of units far behind it. Ray Data's `read_parquet` has
no row ranges, and packs small files into shared blocks.
"""

import functools
from dataclasses import dataclass
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

UNIT_COLUMN = "_unit"
SLICE_BATCH_ROWS = 8192
# Reads go to storage in blocks of this size: a small file in one request, and no read
# of a big file fetches much more than it needs (fsspec's default block is 5-50 MiB).
READ_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class RowGroupSlice:
    group: int  # the row group's index in the file
    offset: int  # the first row taken, counted from the row group's start
    rows: int
    whole: bool  # every row of the row group


@dataclass(frozen=True)
class UnitRead:
    key: str  # the unit's key: the `_unit` of its rows
    path: str  # as the filesystem names it
    size: int  # the file's, known from the listing: opening it needs no request of its own
    rows: int
    slices: tuple[RowGroupSlice, ...]
    # Only these rows of the range, by id (a retry of rejects, jobs/driver/retry_rejects.py); empty: every row.
    ids: tuple = ()

    @property
    def out_rows(self) -> int:
        return len(self.ids) if self.ids else self.rows


def read_unit(unit: UnitRead, filesystem, schema: pa.Schema) -> pa.Table:
    """The unit's rows, `schema`'s columns cast to its types, with `_unit`. Part of a row
    group is read from the row group's start up to the unit's last row: Parquet cannot
    start inside a row group without a page index."""
    whole = all(part.whole for part in unit.slices)
    with filesystem.open(unit.path, "rb", size=unit.size, block_size=READ_BLOCK_BYTES) as f:
        # Whole row groups: their column chunks fetched together. Part of one: streamed,
        # so that the read stops at the slice's end.
        parquet = pq.ParquetFile(f, pre_buffer=whole, buffer_size=0 if whole else READ_BLOCK_BYTES)
        parts = [_read_slice(parquet, part, schema.names) for part in unit.slices]
    table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if table.num_rows != unit.rows:
        raise RuntimeError(f"unit {unit.key}: {unit.path} gave {table.num_rows} rows where the plan has {unit.rows}: "
                           "the file changed while the job ran; run the job again")
    table = table.select(schema.names).cast(schema)
    if unit.ids:
        table = _only_ids(table, unit)
    return table.append_column(UNIT_COLUMN, pa.repeat(pa.scalar(unit.key), table.num_rows))


def _only_ids(table: pa.Table, unit: UnitRead) -> pa.Table:
    """The rows of `unit.ids` (the id column is the first), each exactly once."""
    import pyarrow.compute as pc

    id_column = table.column(0)
    taken = table.filter(pc.is_in(id_column, value_set=pa.array(unit.ids, type=id_column.type)))
    if taken.num_rows != len(unit.ids):
        raise RuntimeError(f"unit {unit.key}: {unit.path} holds {taken.num_rows} of the {len(unit.ids)} ids to retry: "
                           "the input changed since the rejects were written")
    return taken


def _read_slice(parquet: pq.ParquetFile, part: RowGroupSlice, columns: list[str]) -> pa.Table:
    if part.whole:
        return parquet.read_row_group(part.group, columns=columns)
    batches, skip, left = [], part.offset, part.rows
    for batch in parquet.iter_batches(batch_size=SLICE_BATCH_ROWS, row_groups=[part.group], columns=columns):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        taken = batch.slice(skip, left)
        batches.append(taken)
        skip, left = 0, left - taken.num_rows
        if not left:
            break
    if not batches:  # the file has fewer rows than planned: read_unit says so
        return pa.schema([parquet.schema_arrow.field(c) for c in columns]).empty_table()
    return pa.Table.from_batches(batches)


class UnitSource(Datasource):
    """`ray.data.read_datasource(UnitSource(...), override_num_blocks=len(units))`: one
    read task, hence one block, per unit (without the override Ray Data splits blocks).
    `read_one(unit)` reads one (`read_unit` with the job's filesystem and schema: the
    pipeline's unit reader, pipelines/stages.py); `schema` is the columns it reads."""

    def __init__(self, units: list[UnitRead], read_one: Callable[[UnitRead], pa.Table], schema: pa.Schema):
        self.units = units
        self.read_one = read_one
        self.schema = schema

    def get_name(self) -> str:
        return "ReadUnits"

    def estimate_inmemory_data_size(self) -> int | None:
        return None

    def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None, data_context=None) -> list[ReadTask]:
        out_schema = self.schema.append(pa.field(UNIT_COLUMN, pa.string()))
        return [
            ReadTask(
                functools.partial(_read_task, self.read_one, unit),
                BlockMetadata(num_rows=unit.out_rows, size_bytes=None, input_files=[unit.path], exec_stats=None),
                schema=out_schema, per_task_row_limit=per_task_row_limit,
            )
            for unit in self.units
        ]


def _read_task(read_one: Callable[[UnitRead], pa.Table], unit: UnitRead) -> list[pa.Table]:
    return [read_one(unit)]
