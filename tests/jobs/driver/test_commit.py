"""UnitCommitter: a unit commits once its rows are all written; too many or too few rows
are a ConservationError, never a success."""

import pytest

from jobs.driver.commit import ConservationError, UnitCommitter
from jobs.plan.input_files import InputFile
from jobs.plan.input_units import make_unit
from operators.usage import Usage
from operators.written_file import WrittenFile


class FakeStore:
    def __init__(self):
        self.commits = []

    def commit(self, unit, staged):
        self.commits.append((unit.key, dict(staged)))
        return unit


UNIT = make_unit("fp", InputFile(path="in/a.parquet", size=1, version="v", row_groups=(5,), schema=None), start=2, rows=3)


def report(kind, rows, path="p", reasons=(), unit=UNIT, labels=None):
    return WrittenFile(unit=unit.key, kind=kind, path=path, rows=rows, usage=Usage(10 * rows, rows),
                       reasons=dict(reasons), labels=labels or {}, attempts={1: rows})


def committer(store, unit=UNIT):
    return UnitCommitter(store, [unit], "fp")


def test_a_unit_commits_when_its_last_row_is_written():
    store = FakeStore()
    units = committer(store)
    units.add(report("records", 2, "r1"))
    assert store.commits == []
    units.add(report("rejects", 1, "j1", reasons=[("schema_invalid", 1)]))
    assert store.commits == [(UNIT.key, {"records": ["r1"], "rejects": ["j1"]})]
    entry = units.committed[UNIT.key]
    assert (entry.records, entry.rejects, entry.usage, entry.reasons) == (2, 1, Usage(30, 3), {"schema_invalid": 1})
    assert entry.attempts == {1: 3} and entry.labels is None
    # the manifest entry says which rows of which file version it holds
    assert (entry.input_path, entry.start, entry.rows, entry.input_size, entry.input_version) == ("in/a.parquet", 2, 3, 1, "v")
    units.check_finished()


def test_more_rows_than_the_input_had_is_a_conservation_error():
    unit = make_unit("fp", UNIT.file, start=2, rows=2)
    units = committer(FakeStore(), unit)
    with pytest.raises(ConservationError, match="in/a.parquet rows 2-4\\): 3 rows written for 2 input rows"):
        units.add(report("records", 3, unit=unit))


def test_a_unit_missing_rows_is_a_conservation_error():
    units = committer(FakeStore())
    units.add(report("records", 2))
    with pytest.raises(ConservationError, match="1 unit\\(s\\) did not get every row back, e.g. in/a.parquet rows 2-5"):
        units.check_finished()


def test_a_label_jobs_entry_counts_its_records_by_label():
    store = FakeStore()
    units = UnitCommitter(store, [UNIT], "fp", counts_labels=True)
    units.add(report("rejects", 1, "j1", reasons=[("schema_invalid", 1)]))
    units.add(report("records", 2, "r1", labels={"sports": 1, "tech": 1}))
    assert units.committed[UNIT.key].labels == {"sports": 1, "tech": 1}


def test_a_label_jobs_unit_of_only_rejects_counts_no_label():
    units = UnitCommitter(FakeStore(), [UNIT], "fp", counts_labels=True)
    units.add(report("rejects", 3, "j1", reasons=[("schema_invalid", 3)]))
    assert units.committed[UNIT.key].labels == {}
