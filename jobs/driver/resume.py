"""What a run reuses and what it still has to do: the committed units whose file is
unchanged are reused as they are, and every row they do not cover is planned into units.

Reuse goes by row ranges, not by matching unit lists, so an output resumes whatever
`output.unit_rows` it was written with (and, once upgraded, whatever layout an earlier
k2batch wrote: jobs/driver/manifest_upgrade.py).
"""

from collections import defaultdict
from dataclasses import dataclass

from jobs.plan.input_files import InputFile
from jobs.driver.manifest_upgrade import upgrade_entries
from jobs.plan.input_units import Unit, uncovered
from jobs.plan.resolve import ResolvedJob
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputConflictError, OutputStore



@dataclass
class ResumePlan:
    reused: dict[str, CommittedUnit]  # by key
    pending: list[Unit]

    @property
    def units(self) -> int:
        return len(self.reused) + len(self.pending)


def resume_units(resolved: ResolvedJob, store: OutputStore, *, label_column: str | None, tables=None) -> ResumePlan:
    """Apply `output.mode` to the output folder (and `tables`, an output.table's
    TableOutput), keep the committed units this run reuses (retiring the rest), and plan
    the units still to run. Nothing here starts an engine."""
    spec = resolved.spec
    fingerprint = resolved.fingerprints["job"]
    committed = store.prepare(mode=spec.output.mode, job_fingerprint=fingerprint, upgrade=lambda entries: upgrade_entries(
        store, reconciled(store, entries, tables, overwrite=spec.output.mode == "overwrite", job_fingerprint=fingerprint),
        resolved.files, label_column=label_column))
    plan = plan_resume(resolved.files, resolved.units, committed, fingerprint, store.uri)
    if tables is not None:
        tables.retire([entry for key, entry in committed.items() if key not in plan.reused])
    store.settle(committed, plan.reused)
    return plan


def reconciled(store: OutputStore, committed: dict[str, CommittedUnit], tables, *, overwrite: bool,
               job_fingerprint: str) -> dict[str, CommittedUnit]:
    """The manifest's entries, brought together with the tables' history (a table output);
    refused if they were written to folders and the job writes tables, or the other way round."""
    if tables is not None:
        from jobs.storage.tables.reconcile import reconcile

        committed = reconcile(tables, committed, overwrite=overwrite, job_fingerprint=job_fingerprint)
    from jobs.storage.tables import check_output_kind

    check_output_kind(committed, tables, store.uri)
    return committed


def plan_resume(files: list[InputFile], units: list[Unit], committed: dict[str, CommittedUnit], job_fingerprint: str,
                output_uri: str) -> ResumePlan:
    """`units`: the input's units for a run with nothing to reuse."""
    by_path = {file.path: file for file in files}
    reused: dict[str, CommittedUnit] = {}
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for key, entry in committed.items():
        file = by_path.get(entry.input_path)
        if file is None or not unchanged(entry, file):
            continue  # its file changed or is gone: the store retires it
        if entry.start + entry.rows > file.rows:
            raise OutputConflictError(
                f"output.uri {output_uri}: unit {key} says rows {entry.start}-{entry.start + entry.rows} of {entry.input_path}, "
                f"which has {file.rows} rows and is unchanged; the manifest was edited or is damaged. "
                "Use output.mode: overwrite, or a new output.uri"
            )
        reused[key] = entry
        covered[file.path].append((entry.start, entry.rows))
    for path, ranges in covered.items():
        ranges.sort()
        _refuse_overlaps(path, ranges, output_uri)
    pending = [part for unit in units for part in uncovered(unit, covered.get(unit.path, []), job_fingerprint)]
    return ResumePlan(reused=reused, pending=pending)


def unchanged(entry: CommittedUnit, file: InputFile) -> bool:
    """Whether the entry's input file is the one listed now (same size and ETag or mtime)."""
    return (entry.input_size, entry.input_version) == (file.size, file.version)


def _refuse_overlaps(path: str, ranges: list[tuple[int, int]], output_uri: str) -> None:
    """Two committed units holding the same rows would give those rows twice (`ranges` sorted)."""
    for (start_a, rows_a), (start_b, rows_b) in zip(ranges, ranges[1:]):
        if start_b < start_a + rows_a:
            raise OutputConflictError(
                f"output.uri {output_uri}: committed units of {path} overlap (rows {start_a}-{start_a + rows_a} and "
                f"{start_b}-{start_b + rows_b}), so resuming would give rows twice. "
                "Use output.mode: overwrite, or a new output.uri"
            )
