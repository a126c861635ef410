"""Commit each unit as soon as its last row is written, and check that every input
row came back exactly once (records + rejects = input rows, per unit)."""

import logging
import time
from collections import Counter, defaultdict
from typing import Iterable

from jobs.driver.drain import committing
from jobs.plan.input_units import Unit
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputStore
from jobs.storage.run_summary import EngineRun
from operators.written_file import WrittenFile

log = logging.getLogger("k2batch")


class ConservationError(RuntimeError):
    """Rows went missing or were duplicated: the job must not report success."""


class UnitCommitter:
    """Adds up the writer's reports per unit (by key: the `_unit` of its rows) and commits
    a unit when its rows are all written. `counts_labels`: the job is in label mode, so
    every entry carries its records by label. `sink`: where a unit is committed, the
    output folder (`store`) or an output.table's tables (jobs/storage/tables/)."""

    def __init__(self, store: OutputStore, units: list[Unit], job_fingerprint: str, *, counts_labels: bool = False,
                 sink=None):
        self.store = store
        self.sink = sink or store
        self.units = {unit.key: unit for unit in units}
        self.job_fingerprint = job_fingerprint
        self.counts_labels = counts_labels
        self.progress: dict[str, CommittedUnit] = {}
        self.staged: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.committed: dict[str, CommittedUnit] = {}  # by key
        self.engines: list[EngineRun] = []  # where the engines ran (jobs/watch/placement.py)
        self.engine_spans: dict[str, list[float]] = {}  # replica -> [first batch start, last batch end]
        self.replica_rows: dict[str, Counter] = defaultdict(Counter)  # unit -> its rows written, by replica
        self.rows_by_replica: Counter = Counter()  # the committed units' rows, by the replica that answered them
        self.retried_rows = self.recovered_rows = 0  # a retry's (jobs/driver/retry_rejects.py RetryCommitter)

    def add(self, written: WrittenFile) -> CommittedUnit | None:
        """One writer report; the unit, if this report completed and committed it."""
        unit = self.units[written.unit]
        entry = self.progress.setdefault(unit.key, CommittedUnit(
            key=unit.key, input_path=unit.path, job_fingerprint=self.job_fingerprint, rows=unit.rows,
            start=unit.start, input_size=unit.file.size, input_version=unit.file.version,
            fingerprints=[self.job_fingerprint], labels={} if self.counts_labels else None,
        ))
        entry.add(written)
        self.staged[unit.key][written.kind].append(written.path)
        self.replica_rows[unit.key][written.replica or ""] += written.rows
        if written.replica:
            span = self.engine_spans.setdefault(written.replica, [written.engine_start, written.engine_end])
            span[:] = min(span[0], written.engine_start), max(span[1], written.engine_end)
        done = entry.records + entry.rejects
        if done > unit.expected_rows:
            raise ConservationError(f"unit {unit.key} ({unit.location}): {done} rows written for {unit.expected_rows} input rows")
        if done == unit.expected_rows:
            self.committed[entry.key] = self.finish(entry, self.staged.pop(unit.key))
            self.rows_by_replica.update(self.replica_rows.pop(unit.key))
            log.info("committed %s (%d records, %d rejects)", unit.location, entry.records, entry.rejects)
            return self.committed[entry.key]
        return None

    @property
    def engine_seconds(self) -> float:
        """The replicas' busy time in this run: per replica, first batch in to last answer out."""
        return sum(end - start for start, end in self.engine_spans.values())

    def finish(self, entry: CommittedUnit, staged: dict[str, list[str]]) -> CommittedUnit:
        """Commit a unit whose rows are all written (`entry`: what this run wrote of it)."""
        entry.fingerprint_rows = {self.job_fingerprint: {"records": entry.records, "rejects": entry.rejects}}
        return self.sink.commit(entry, staged)

    def uncommitted(self) -> list[Unit]:
        return [unit for key, unit in self.units.items() if key not in self.committed]

    def forget(self, keys: Iterable[str]) -> list[CommittedUnit]:
        """Forget what was written of these uncommitted units, which run again, whole (their
        staged files are never published; the run clears staging at its end); what that was."""
        dropped = [self.progress.pop(key) for key in keys if key in self.progress]
        for key in keys:
            self.staged.pop(key, None)
            self.replica_rows.pop(key, None)
        return dropped

    def check_finished(self) -> None:
        unfinished = [unit for key, unit in self.units.items() if key not in self.committed]
        if unfinished:
            raise ConservationError(f"{len(unfinished)} unit(s) did not get every row back, e.g. {unfinished[0].location}")


def commit_as_written(reports: Iterable[WrittenFile], committer: UnitCommitter, observer=None) -> dict[str, CommittedUnit]:
    """Commit each unit as soon as its last file is written; the committed units by key.
    `observer` (jobs/watch/run_watch.py) hears of each report and of each commit with
    the seconds it took. A signal that stops the run at once waits for a commit's end
    (jobs/driver/drain.py)."""
    for written in reports:
        if observer:
            observer.written(written)
        commit_started = time.monotonic()
        with committing():
            unit = committer.add(written)
        if unit is not None and observer:
            observer.committed(unit, time.monotonic() - commit_started)
    committer.check_finished()
    return committer.committed
