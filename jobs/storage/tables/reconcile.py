"""Before a run plans anything: bring the manifest and the tables' history to one state
(jobs/storage/tables/__init__.py has the commit protocol this undoes a crash of).

- A unit whose latest tagged commit (in either table, after the last overwrite) is newer
  than its manifest entry, or that has no entry, reached a table before the crash: the
  table that misses that commit gets it now (the files are in its folder: every move
  comes before the first commit), and the entry is written from the commit's tag.
  The unit is neither run again nor appended twice.
- A unit retired from a table (its input file changed) is never brought back.
- Files in the tables' folders named by k2batch that no entry (manifest or history)
  lists were moved by a unit that never committed: they are deleted.
"""

import json
import logging

from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import KINDS
from jobs.storage.tables import TAG_ENTRY, TAG_RETIRED, TAG_TRUNCATE, TableOutput

log = logging.getLogger("k2batch")


def reconcile(output: TableOutput, committed: dict[str, CommittedUnit], *, overwrite: bool,
              job_fingerprint: str) -> dict[str, CommittedUnit]:
    """`committed` (the manifest's entries) with every unit the tables hold; under
    `overwrite` (whose manifest is already deleted) the tables are emptied first."""
    if overwrite:
        output.truncate(job_fingerprint)
    latest: dict[str, tuple[CommittedUnit, set[str]]] = {}  # by key: the newest entry and the tables it reached
    retired: set[str] = set()
    listed: set[str] = set()
    for kind, table in output.tables.items():
        for tags in table.history(since=TAG_TRUNCATE):
            retired.update(json.loads(tags.get(TAG_RETIRED, "[]")))
            if TAG_ENTRY not in tags:
                continue
            entry = CommittedUnit.from_json(tags[TAG_ENTRY])
            listed.update(p for paths in entry.files.values() for p in paths)
            newest = latest.get(entry.key)
            if newest is None or entry.table_commit > newest[0].table_commit:
                latest[entry.key] = (entry, {kind})
            elif entry.table_commit == newest[0].table_commit:
                newest[1].add(kind)
    for key, (entry, reached) in sorted(latest.items()):
        known = committed.get(key)
        if key in retired or (known is not None and known.table_commit >= entry.table_commit):
            continue
        missing = [kind for kind in KINDS if kind not in reached]
        before = {kind: set(known.files.get(kind, [])) if known else set() for kind in KINDS}
        after = {kind: set(entry.files.get(kind, [])) for kind in KINDS}
        output.apply(entry, {k: sorted(after[k] - before[k]) for k in KINDS},
                     {k: sorted(before[k] - after[k]) for k in KINDS}, missing)
        log.info("unit %s (%s) reached %s before the run ended: its manifest entry is written from the table's commit",
                 key, entry.location, " and ".join(output.describe(k) for k in sorted(reached)))
        output.store.write_entry(entry)
        committed[key] = entry
    listed.update(p for entry in committed.values() for paths in entry.files.values() for p in paths)
    _remove_strays(output, listed)
    return committed


def _remove_strays(output: TableOutput, listed: set[str]) -> None:
    store = output.store
    known = {store.file_path(p) for p in listed}
    for kind, table in output.tables.items():
        folder = store.file_path(table.data_uri)
        store.fs.invalidate_cache(folder)
        for path in store.fs.glob(f"{folder}/k2batch-*.parquet"):
            if path not in known:
                log.info("removing %s: no commit of %s lists it (moved there by a run that ended first)", path,
                         output.describe(kind))
                store.remove_file(path)
