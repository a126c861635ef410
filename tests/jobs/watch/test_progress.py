"""Progress without a terminal (cron, Airflow, make): the start line, then a line at most
every 30 s, and at once when a unit commits after a quiet spell."""

import io

from jobs.watch.progress import Progress, RunStart
from operators.usage import Usage
from operators.written_file import WrittenFile

START = RunStart(job="news", run_id="news[ds=1]", units=4, reused_units=1, rows=400, reused_rows=100,
                 logs="/out/_logs/x/k2batch.log")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def report(kind: str, rows: int) -> WrittenFile:
    return WrittenFile(unit="u", kind=kind, path="p", rows=rows, usage=Usage(100 * rows, 10 * rows, 90 * rows))


def test_lines_come_at_most_every_30_seconds():
    clock, out = Clock(), io.StringIO()
    progress = Progress(START, out, "lines", clock=clock)
    assert out.getvalue() == ("k2batch: news run news[ds=1]: 4 unit(s), 400 rows (1 unit(s), 100 rows reused); "
                              "logs: /out/_logs/x/k2batch.log\n")
    for second in range(1, 25):  # the engine starts: one line after 30 s says so
        clock.now = float(second)
        progress.tick("waiting for the engine to start")
    assert len(out.getvalue().splitlines()) == 1
    clock.now = 31.0
    progress.tick("waiting for the engine to start")
    assert out.getvalue().splitlines()[-1] == ("k2batch: after 31 s: 100/400 rows (25%), 0 records, 0 rejects, 0/3 units "
                                               "committed, 0.0 rows/s, 0 output tok/s; waiting for the engine to start")
    for second in range(32, 60):  # rows arrive every second: no line before 61 s
        clock.now = float(second)
        progress.written(report("records", 2))
        progress.tick()
    assert len(out.getvalue().splitlines()) == 2
    clock.now = 61.0
    progress.written(report("rejects", 4))
    progress.committed()  # 30 s after the last line: printed at once
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1].startswith("k2batch: after 1m01s: 160/400 rows (40%), 56 records, 4 rejects, 1/3 units committed, 1.0 rows/s, "
                                "10 output tok/s, ETA 4m04s")  # 240 rows left at 60 rows in 61 s
    clock.now = 62.0
    progress.committed()  # one second later: no second line
    progress.close()
    assert len(out.getvalue().splitlines()) == 3


def test_nothing_new_prints_nothing():
    clock, out = Clock(), io.StringIO()
    progress = Progress(START, out, "lines", clock=clock)
    clock.now = 100.0
    progress.tick()
    assert len(out.getvalue().splitlines()) == 1
