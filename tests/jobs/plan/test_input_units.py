"""Units: row ranges of a file that cover every row once, at most `unit_rows` rows each,
whole row groups where they fit, and reads that return exactly a unit's rows."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.plan.input_files import InputFile
from jobs.plan.input_units import make_unit, plan_units, uncovered, unit_ranges
from operators.read_units import read_unit


@settings(deadline=None)  # pure and fast, but a loaded CI machine must not fail it on time
@given(st.lists(st.integers(0, 5000), max_size=12), st.integers(1, 3000))
def test_units_cover_every_row_once_in_bounded_ranges(row_groups, unit_rows):
    ranges = unit_ranges(tuple(row_groups), unit_rows)
    position = 0
    for start, rows in ranges:
        assert start == position and 0 < rows <= unit_rows
        position += rows
    assert position == sum(row_groups)
    # A row group that fits in a unit is never cut; a bigger one is cut into near-equal slices.
    starts = {start for start, _ in ranges} | {sum(row_groups)}
    group_start = 0
    for rows in row_groups:
        inside = {s for s in starts if group_start < s < group_start + rows}
        if rows <= unit_rows:
            assert not inside
        else:
            sizes = [b - a for a, b in zip(sorted({group_start, *inside}), sorted({*inside, group_start + rows}))]
            assert max(sizes) - min(sizes) <= 1 and len(sizes) == -(-rows // unit_rows)
        group_start += rows


def test_small_row_groups_share_a_unit_and_a_big_one_is_sliced():
    assert unit_ranges((300, 300, 300, 100), 700) == [(0, 600), (600, 400)]
    assert unit_ranges((5000,), 2048) == [(0, 1667), (1667, 1667), (3334, 1666)]
    assert unit_ranges((0, 0), 10) == []  # an empty file has no unit


def input_file(path, row_groups) -> InputFile:
    return InputFile(path=str(path), size=1, version="v", row_groups=tuple(row_groups), schema=None)


def test_a_unit_key_covers_the_file_identity_and_the_range():
    file = input_file("in/a.parquet", [100])
    keys = {make_unit("fp", file, 0, 50).key, make_unit("fp", file, 50, 50).key, make_unit("fp", file, 0, 40).key,
            make_unit("fp2", file, 0, 50).key,
            make_unit("fp", InputFile(path=file.path, size=2, version="v", row_groups=(100,), schema=None), 0, 50).key,
            make_unit("fp", InputFile(path=file.path, size=1, version="w", row_groups=(100,), schema=None), 0, 50).key}
    assert len(keys) == 6


def test_the_parts_not_yet_committed_become_units_of_their_own():
    unit = make_unit("fp", input_file("a", [100]), 0, 100)
    assert uncovered(unit, [], "fp") == [unit]
    assert uncovered(unit, [(0, 100)], "fp") == []
    assert uncovered(unit, [(100, 20)], "fp") == [unit]  # a neighbour's range
    assert uncovered(make_unit("fp", unit.file, 50, 50), [(0, 10), (40, 20), (90, 5)], "fp")[0].start == 60
    parts = uncovered(unit, [(10, 20), (50, 10)], "fp")
    assert [(p.start, p.rows) for p in parts] == [(0, 10), (30, 20), (60, 40)]
    assert parts[0].key == make_unit("fp", unit.file, 0, 10).key


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory):
    """300 rows in row groups of 100, 100, 60, 40; `n` is an int in one file, text in the read schema."""
    path = tmp_path_factory.mktemp("units") / "part.parquet"
    table = pa.table({"doc_id": [f"d{i:03d}" for i in range(300)], "n": list(range(300)), "other": [0.5] * 300})
    with pq.ParquetWriter(path, table.schema) as writer:
        for start, rows in ((0, 100), (100, 100), (200, 60), (260, 40)):
            writer.write_table(table.slice(start, rows))
    return path


@pytest.mark.parametrize("unit_rows", [1, 7, 40, 100, 150, 1000])
def test_reading_every_unit_gives_each_row_once_with_its_unit_key(parquet_file, unit_rows):
    file = input_file(parquet_file, [100, 100, 60, 40])
    schema = pa.schema([pa.field("doc_id", pa.string()), pa.field("n", pa.string())])  # n read as text
    ids, keys = [], set()
    for unit in plan_units([file], unit_rows, "fp"):
        table = read_unit(unit.read(), LocalFileSystem(), schema)
        assert table.schema.names == ["doc_id", "n", "_unit"] and table.schema.field("n").type == pa.string()
        assert table.num_rows == unit.rows and set(table.column("_unit").to_pylist()) == {unit.key}
        assert table.column("doc_id").to_pylist() == [f"d{i:03d}" for i in range(unit.start, unit.start + unit.rows)]
        ids += table.column("doc_id").to_pylist()
        keys.add(unit.key)
    assert ids == [f"d{i:03d}" for i in range(300)]
    assert len(keys) == len(plan_units([file], unit_rows, "fp")), "each unit has a key of its own"


def test_a_unit_reads_only_the_row_groups_it_covers(parquet_file):
    unit = make_unit("fp", input_file(parquet_file, [100, 100, 60, 40]), 150, 80)
    read = unit.read()
    assert [(s.group, s.offset, s.rows, s.whole) for s in read.slices] == [(1, 50, 50, False), (2, 0, 30, False)]
    assert [(s.group, s.whole) for s in make_unit("fp", unit.file, 100, 160).read().slices] == [(1, True), (2, True)]


def test_a_file_that_changed_since_planning_is_an_error_not_a_short_unit(parquet_file):
    unit = make_unit("fp", input_file(parquet_file, [100, 100, 60, 50]), 260, 50)  # the file has 40 rows there
    with pytest.raises(RuntimeError, match="gave 40 rows where the plan has 50: the file changed"):
        read_unit(unit.read(), LocalFileSystem(), pa.schema([pa.field("doc_id", pa.string())]))
