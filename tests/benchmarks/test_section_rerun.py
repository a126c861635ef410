"""`run_all --only NAME` re-runs one benchmark: its section and its rows of BENCHMARKS.md's
Targets table are rewritten (the rows marked as re-run), every other line kept."""

from benchmarks import report

TARGETS = """## Targets

| Benchmark | Figure | Target | Measured | Status |
|---|---|---|---|---|
| estimate accuracy | engine time, |projected / measured - 1| | below 0.50 | 0.26 | met |
| dedup | rows/s dedup on / off, 30% duplicate rows | at least 1.30 | 1.20 | **missed** |
| confidence | label rows/s confidence on / off | at least 0.75 | 0.55 | **missed** |

Worst miss: something.

"""


def dedup(speedup: float) -> dict:
    return {"dedup": {"returncode": 0, "results": {"target_speedup": 1.3, "speedup": speedup}}}


def test_the_rerun_benchmarks_rows_are_replaced_in_place_and_marked():
    once = report._retarget(TARGETS, dedup(1.35))
    lines = once.splitlines()
    assert lines[5] == "| dedup (section re-run) | rows/s dedup on / off, 30% duplicate rows | at least 1.30 | 1.35 | met |"
    assert [line for line in lines if line != lines[5]] == [line for line in TARGETS.splitlines() if "| dedup |" not in line]


def test_a_second_rerun_replaces_the_marked_rows_instead_of_adding_more():
    twice = report._retarget(report._retarget(TARGETS, dedup(1.35)), dedup(1.10))
    rows = [line for line in twice.splitlines() if line.startswith("| dedup")]
    assert rows == ["| dedup (section re-run) | rows/s dedup on / off, 30% duplicate rows | at least 1.30 | 1.10 | **missed** |"]


def test_a_benchmark_without_rows_yet_gets_them_after_the_tables_last_row():
    table = TARGETS.replace("| dedup | rows/s dedup on / off, 30% duplicate rows | at least 1.30 | 1.20 | **missed** |\n", "")
    lines = report._retarget(table, dedup(1.35)).splitlines()
    assert lines[6].startswith("| dedup (section re-run) |") and lines[7] == ""
