"""A run's progress as an operator sees it: one start line, then a live bar on a terminal
or in a notebook, or, without a terminal (cron, Airflow, make), a plain line at most
every 30 s, at once when a unit commits after a quiet spell."""

import time
from dataclasses import dataclass
from typing import TextIO

from operators.usage import Usage
from operators.written_file import WrittenFile

LINE_EVERY_S = 30.0


@dataclass(frozen=True)
class RunStart:
    job: str
    run_id: str
    units: int
    reused_units: int
    rows: int  # every input row of the job
    reused_rows: int  # of those, committed by an earlier run
    logs: str  # where the engine's, Ray's and k2batch's logs go

    def line(self) -> str:
        reused = f" ({self.reused_units} unit(s), {self.reused_rows} rows reused)" if self.reused_units else ""
        return (f"k2batch: {self.job} run {self.run_id}: {self.units} unit(s), {self.rows} rows{reused}; "
                f"logs: {self.logs}")


@dataclass
class RunCounts:
    """This run's rows as the writer reports them (reused units not included)."""

    rows: int = 0
    records: int = 0
    rejects: int = 0
    usage: Usage = Usage()
    units_committed: int = 0

    def add(self, written: WrittenFile) -> None:
        self.rows += written.rows
        setattr(self, written.kind, getattr(self, written.kind) + written.rows)
        self.usage += written.usage


class Progress:
    """Shows a run's counts; `kind` is "bar" (a terminal), "notebook", "lines" or "none"."""

    def __init__(self, start: RunStart, stream: TextIO, kind: str, clock=time.monotonic):
        self.start, self.stream, self.kind, self.clock = start, stream, kind, clock
        self.counts = RunCounts()
        self.began = clock()
        self.last_line = self.began
        self.news = False  # something happened since the last line
        self.bar = None
        if kind in ("bar", "lines"):
            print(start.line(), file=stream, flush=True)
        if kind in ("bar", "notebook"):
            self.bar = _bar(start, stream, notebook=kind == "notebook")

    def written(self, report: WrittenFile) -> None:
        self.counts.add(report)
        self.news = True
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix(), refresh=False)
            self.bar.update(report.rows)

    def dropped(self, records: int, rejects: int) -> None:
        """Rows written of units that run again (a new pass after a lost node): counted
        when written again (the tokens they cost stay counted: they were spent)."""
        self.counts.rows -= records + rejects
        self.counts.records -= records
        self.counts.rejects -= rejects
        if self.bar is not None:
            self.bar.update(-(records + rejects))

    def committed(self) -> None:
        self.counts.units_committed += 1
        if self.kind == "lines" and self.clock() - self.last_line >= LINE_EVERY_S:
            self._line()

    def tick(self, note: str | None = None) -> None:
        """Called about once a second while the run waits; `note` says what it waits for."""
        if self.bar is not None:
            self.bar.set_postfix_str(note or self._postfix())  # also redraws: the elapsed time moves on
        elif self.kind == "lines" and self.clock() - self.last_line >= LINE_EVERY_S and (self.news or note):
            self._line(note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self._postfix())
            self.bar.close()

    def _line(self, note: str | None = None) -> None:
        c, start = self.counts, self.start
        todo = start.rows - start.reused_rows
        seconds = max(self.clock() - self.began, 1e-9)
        rate = c.rows / seconds
        eta = f", ETA {_duration((todo - c.rows) / rate)}" if rate > 0 and c.rows < todo else ""
        print(f"k2batch: after {_duration(seconds)}: {start.reused_rows + c.rows}/{start.rows} rows ({(start.reused_rows + c.rows) / max(start.rows, 1):.0%}), "
              f"{c.records} records, {c.rejects} rejects, {c.units_committed}/{start.units - start.reused_units} units "
              f"committed, {rate:.1f} rows/s, {c.usage.completion_tokens / seconds:.0f} output tok/s{eta}"
              f"{f'; {note}' if note else ''}", file=self.stream, flush=True)
        self.last_line, self.news = self.clock(), False

    def _postfix(self) -> str:
        seconds = max(self.clock() - self.began, 1e-9)
        return (f"{self.counts.records} records, {self.counts.rejects} rejects, "
                f"{self.counts.usage.completion_tokens / seconds:.0f} output tok/s")


def _bar(start: RunStart, stream: TextIO, *, notebook: bool):
    if notebook:
        try:
            import ipywidgets  # noqa: F401 - tqdm draws a widget in Jupyter only with it
            from tqdm.auto import tqdm
        except ImportError:
            from tqdm import tqdm  # a text bar: Jupyter redraws its carriage returns in place
    else:
        from tqdm import tqdm
    return tqdm(total=start.rows, initial=start.reused_rows, desc=start.job, unit="row", file=stream,
                dynamic_ncols=True, smoothing=0.1)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds} s")
