"""The one unit reader: the read stage's read tasks, the preview's first rows and the
estimate's sample all read a unit through `unit_reader`, its rows cast to the job's
read schema, with `_unit`."""

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from operators.read_units import RowGroupSlice, UnitRead, UnitSource
from pipelines.flow_plan import ReadSettings
from pipelines.stages import read_rows, unit_reader


def test_the_read_stage_reads_each_unit_through_the_unit_reader(tmp_path, monkeypatch):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "n": [1, 2, 3]}), path, row_group_size=2)
    units = [UnitRead(key="u0", path=str(path), size=path.stat().st_size, rows=2, slices=(RowGroupSlice(0, 0, 2, True),)),
             UnitRead(key="u1", path=str(path), size=path.stat().st_size, rows=1, slices=(RowGroupSlice(1, 0, 1, True),))]
    schema = pa.schema([pa.field("id", pa.string()), pa.field("n", pa.float64())])
    read = ReadSettings(units=units, filesystem=LocalFileSystem(), columns=["id", "n"], schema=schema)
    read_unit = unit_reader(read)
    first = read_unit(units[0])
    assert first.to_pydict() == {"id": ["a", "b"], "n": [1.0, 2.0], "_unit": ["u0", "u0"]}
    assert first.schema.field("n").type == pa.float64(), "cast to the read schema"

    monkeypatch.setattr("ray.data.read_datasource", lambda source, override_num_blocks: source)  # the source itself
    source = read_rows(read)
    assert isinstance(source, UnitSource) and source.read_one.args[0].keywords == read_unit.keywords  # gated
    tasks = source.get_read_tasks(parallelism=1)
    assert [list(task())[0].to_pydict() for task in tasks] == [first.to_pydict(), {"id": ["c"], "n": [3.0], "_unit": ["u1"]}]

    # A draining run's board (operators/drain_gate.py): a unit not yet read is read as no rows, typed alike.
    draining = type("Board", (), {"draining": type("Method", (), {"remote": staticmethod(lambda: True)})})()
    monkeypatch.setattr("operators.drain_gate.run_board", lambda: draining)
    monkeypatch.setattr("ray.get", lambda value, timeout=None: value)
    (none,) = list(tasks[1]())
    assert none.num_rows == 0 and none.schema == first.schema
