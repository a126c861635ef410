"""UnitCommitter: a unit commits once its rows are all written; too many or too few rows
are a ConservationError, never a success."""

import pytest

from jobs.driver.commit import ConservationError, UnitCommitter
from jobs.plan.input_units import Unit


class FakeStore:
    def __init__(self):
        self.commits = []

    def commit(self, unit, staged):
        self.commits.append((unit.key, dict(staged)))
        return unit


def report(kind, rows, path="p", reasons=()):
    return {"unit": "in/a.parquet", "kind": kind, "path": path, "rows": rows, "prompt_tokens": 10 * rows,
            "completion_tokens": rows, "cached_prompt_tokens": 0, "reasons": list(reasons)}


def committer(store, rows=3):
    unit = Unit(path="in/a.parquet", size=1, version="v", rows=rows, schema=None)
    return UnitCommitter(store, [unit], {"in/a.parquet": "key-a"}, "fp")


def test_a_unit_commits_when_its_last_row_is_written():
    store = FakeStore()
    units = committer(store)
    units.add(report("records", 2, "r1"))
    assert store.commits == []
    units.add(report("rejects", 1, "j1", reasons=[("schema_invalid", 1)]))
    assert store.commits == [("key-a", {"records": ["r1"], "rejects": ["j1"]})]
    entry = units.committed["key-a"]
    assert (entry.records, entry.rejects, entry.prompt_tokens, entry.reasons) == (2, 1, 30, {"schema_invalid": 1})
    units.check_finished()


def test_more_rows_than_the_input_had_is_a_conservation_error():
    units = committer(FakeStore(), rows=2)
    with pytest.raises(ConservationError, match="3 rows written for 2 input rows"):
        units.add(report("records", 3))


def test_a_unit_missing_rows_is_a_conservation_error():
    units = committer(FakeStore())
    units.add(report("records", 2))
    with pytest.raises(ConservationError, match="1 unit\\(s\\) did not get every row back, e.g. in/a.parquet"):
        units.check_finished()
