"""`k2batch run --retry-rejects`: run the committed rejects' rows again with the spec as
given now, and replace each unit they belong to atomically through its manifest entry.

What is retried: every committed reject (of the `--reason`s given, if any) that another
fingerprint produced; a reject the current spec produced is kept, since the same spec
gives the same answer, so a retry interrupted by a crash goes on where it stopped.

Per unit (jobs/storage/output_store.py `replace`): the new records and rejects, and the
old rejects files rewritten without the retried rows, are staged and published under new
names; then the unit's entry is overwritten, which is the commit point; then the files
only the old entry listed are deleted. Records committed before are never rewritten.

The entry keeps its key (the fingerprint that first wrote it) and adds this fingerprint
to its `fingerprints`, so a later plain run of either spec reuses it. Units without rows
to retry are adopted (their entry rewritten) before any engine starts; a unit with rows
to retry is adopted only by its replacement, so a plain run of the new spec after a
crashed retry is refused until the retry is finished.
"""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.driver.commit import ConservationError, UnitCommitter
from jobs.driver.manifest_upgrade import upgrade_entries
from jobs.driver.resume import ResumePlan, reconciled, unchanged
from jobs.plan.input_units import Unit, uncovered
from jobs.plan.resolve import ResolvedJob
from jobs.spec import JobSpecError
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputConflictError, OutputStore
from operators.write_parquet import FINGERPRINT_FIELD, FINGERPRINT_KEY

log = logging.getLogger("k2batch")


@dataclass
class RetryRows:
    """One unit's rejects to run again."""

    entry: CommittedUnit  # as committed before this retry
    ids: set
    fingerprints: Counter  # the fingerprints that rejected them
    reasons: Counter  # their reasons then


@dataclass
class RetryPlan(ResumePlan):
    retries: dict[str, RetryRows] = field(default_factory=dict)  # by unit key

    @property
    def retried_rows(self) -> int:
        return sum(len(r.ids) for r in self.retries.values())


def plan_retry(resolved: ResolvedJob, store: OutputStore, reasons: list[str], *, label_column: str | None,
               tables=None) -> RetryPlan:
    """The units whose rejects this run answers again (`pending`, each with the ids to
    read) and the ones it reuses. Refuses an output that does not match the input now."""
    fingerprint = resolved.fingerprints["job"]
    if resolved.spec.output.mode != "resume":
        raise JobSpecError(f"output.mode: --retry-rejects keeps the committed results, which output.mode "
                           f"{resolved.spec.output.mode} does not; use output.mode: resume")
    committed = upgrade_entries(store, reconciled(store, store.committed(), tables, overwrite=False, job_fingerprint=fingerprint),
                                resolved.files, label_column=label_column)
    check_matches_input(resolved, committed, store.uri)
    store.settle(committed, committed)  # files of a crashed run (or retry) that no entry lists
    by_path = {file.path: file for file in resolved.files}
    retries = {key: rows for key, entry in committed.items() if _may_retry(entry, fingerprint, set(reasons))
               and (rows := _rejects_to_retry(store, entry, resolved.id_field.name, fingerprint, set(reasons))).ids}
    if tables is not None:
        tables.check_live("rejects", [p for rows in retries.values() for p in rows.entry.files.get("rejects", [])])
    pending, reused = [], {}
    for key, entry in committed.items():
        if key in retries:
            pending.append(Unit(file=by_path[entry.input_path], start=entry.start, rows=entry.rows, key=key,
                                ids=tuple(sorted(retries[key].ids))))
        else:
            if fingerprint not in entry.fingerprints:
                entry.fingerprints = [*entry.fingerprints, fingerprint]
                store.write_entry(entry)
            reused[key] = entry
    log.info("retrying %d reject(s) in %d unit(s)%s", sum(len(r.ids) for r in retries.values()), len(retries),
             f" (reasons: {', '.join(reasons)})" if reasons else "")
    return RetryPlan(reused=reused, pending=pending, retries=retries)


def check_matches_input(resolved: ResolvedJob, committed: dict[str, CommittedUnit], output_uri: str) -> None:
    """The rejects are rows of the input as it was: refuse if a file changed or is gone,
    or if input rows have no committed unit (the job has not finished)."""
    if not committed:
        raise OutputConflictError(f"output.uri {output_uri} holds no committed results: nothing to retry; run the job first")
    by_path = {file.path: file for file in resolved.files}
    covered: dict[str, list[tuple[int, int]]] = {}
    for entry in committed.values():
        file = by_path.get(entry.input_path)
        if file is None or not unchanged(entry, file):
            raise OutputConflictError(
                f"output.uri {output_uri}: input file {entry.input_path} changed or is gone since its rejects were written, "
                "so they no longer match the input; run the job without --retry-rejects (output.mode: overwrite)")
        covered.setdefault(file.path, []).append((entry.start, entry.rows))
    for ranges in covered.values():
        ranges.sort()
    missing = [part for unit in resolved.units for part in uncovered(unit, covered.get(unit.path, []), "")]
    if missing:
        raise OutputConflictError(
            f"output.uri {output_uri}: {sum(u.rows for u in missing)} input row(s) have no committed result yet "
            f"(e.g. {missing[0].path} rows {missing[0].start}-{missing[0].start + missing[0].rows}); "
            "finish the job with a plain run of the spec that started it, then retry its rejects")


def _may_retry(entry: CommittedUnit, fingerprint: str, reasons: set[str]) -> bool:
    """Whether the entry's counts leave room for a reject this run retries: only such
    units' rejects files are read (a retry of a few rows must not read the whole output)."""
    if not entry.rejects or (reasons and not reasons & set(entry.reasons)):
        return False
    return entry.fingerprint_rows.get(fingerprint, {}).get("rejects", 0) < entry.rejects


def _rejects_to_retry(store: OutputStore, entry: CommittedUnit, id_column: str, fingerprint: str,
                      reasons: set[str]) -> RetryRows:
    found = RetryRows(entry=entry, ids=set(), fingerprints=Counter(), reasons=Counter())
    for relative in entry.files.get("rejects", []):
        table = _read(store, relative)
        producers = row_fingerprints(table)
        for row_id, reason, producer in zip(table.column(id_column).to_pylist(), table.column("reason").to_pylist(), producers):
            if producer != fingerprint and (not reasons or reason in reasons):
                found.ids.add(row_id)
                found.fingerprints[producer] += 1
                found.reasons[reason] += 1
    return found


def row_fingerprints(table: pa.Table) -> list[str | None]:
    """The fingerprint that produced each row: its `_fingerprint`, or for a file written
    before that column, the file's metadata."""
    if FINGERPRINT_FIELD.name in table.column_names:
        return table.column(FINGERPRINT_FIELD.name).to_pylist()
    value = (table.schema.metadata or {}).get(FINGERPRINT_KEY.encode())
    return [value.decode() if value else None] * table.num_rows


def _read(store: OutputStore, relative: str) -> pa.Table:
    with store.fs.open(store.file_path(relative), "rb") as f:
        return pq.read_table(f)


class RetryCommitter(UnitCommitter):
    """Commits each retried unit, once all its retried rows are written, as the old
    entry with the retried rows' new outcomes in place of their rejects."""

    def __init__(self, store: OutputStore, plan: RetryPlan, job_fingerprint: str, id_column: str, *,
                 counts_labels: bool = False, sink=None):
        super().__init__(store, plan.pending, job_fingerprint, counts_labels=counts_labels, sink=sink)
        self.retries = plan.retries
        self.id_column = id_column

    def finish(self, new: CommittedUnit, staged: dict[str, list[str]]) -> CommittedUnit:
        retry = self.retries[new.key]
        old = retry.entry
        staged = {kind: list(paths) for kind, paths in staged.items()}
        kept, drop, dropped_attempts = self._without_retried(old, retry.ids, staged)
        fingerprint_rows = {fp: dict(counts) for fp, counts in old.fingerprint_rows.items()}
        for producer, count in retry.fingerprints.items():
            fingerprint_rows[producer]["rejects"] -= count
        mine = fingerprint_rows.setdefault(self.job_fingerprint, {"records": 0, "rejects": 0})
        mine["records"] += new.records
        mine["rejects"] += new.rejects
        reasons = Counter(old.reasons)
        reasons.subtract(retry.reasons)
        reasons.update(new.reasons)
        attempts = Counter(old.attempts)
        attempts.subtract(dropped_attempts)
        attempts.update(new.attempts)
        entry = replace(
            old, records=old.records + new.records, rejects=old.rejects - len(retry.ids) + new.rejects,
            usage=old.usage + new.usage, deduplicated_rows=old.deduplicated_rows + new.deduplicated_rows,
            labels=None if old.labels is None else dict(Counter(old.labels) + Counter(new.labels or {})),
            attempts={n: rows for n, rows in attempts.items() if rows},
            prompt_token_buckets=dict(Counter(old.prompt_token_buckets) + Counter(new.prompt_token_buckets)),
            completion_token_buckets=dict(Counter(old.completion_token_buckets) + Counter(new.completion_token_buckets)),
            confidence_buckets=dict(Counter(old.confidence_buckets) + Counter(new.confidence_buckets)),
            reasons={reason: n for reason, n in reasons.items() if n},
            files={"records": list(old.files.get("records", [])), "rejects": kept},
            fingerprints=old.fingerprints if self.job_fingerprint in old.fingerprints else [*old.fingerprints, self.job_fingerprint],
            fingerprint_rows={fp: counts for fp, counts in fingerprint_rows.items() if counts["records"] or counts["rejects"]},
        )
        if entry.records + entry.rejects != old.records + old.rejects:
            raise ConservationError(f"unit {old.key}: the retry gave {entry.records + entry.rejects} rows for {old.rows}")
        self.retried_rows += len(retry.ids)
        self.recovered_rows += new.records
        return self.sink.replace(entry, staged, drop)

    def _without_retried(self, old: CommittedUnit, ids: set,
                         staged: dict[str, list[str]]) -> tuple[list[str], list[str], Counter]:
        """The old rejects files to keep as they are, those to drop, and the retried rows'
        attempts; a dropped file's rows that were not retried are staged again as a new
        file (same schema, metadata)."""
        kept, drop, attempts = [], [], Counter()
        for relative in old.files.get("rejects", []):
            table = _read(self.store, relative)
            retried = pc.is_in(table.column(self.id_column), value_set=pa.array(list(ids), type=table.schema.field(self.id_column).type))
            if not pc.any(retried).as_py():
                kept.append(relative)
                continue
            drop.append(relative)
            attempts.update(table.filter(retried).column("_attempts").to_pylist())
            rest = table.filter(pc.invert(retried))
            if rest.num_rows:
                path = self.store.path("_staging", f"rejects-kept-{uuid.uuid4().hex}.parquet")
                self.store.write_parquet(path, rest)
                staged.setdefault("rejects", []).append(path)
        return kept, drop, attempts

