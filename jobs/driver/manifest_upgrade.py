"""The one upgrade step of the manifest: entries of the previous layout (version 1, no
`version` key) become version 2 entries before a run plans anything, and are rewritten,
so that nothing after this step knows earlier layouts.

Version 1 entries may lack what version 2 always has:
- the range: an entry of k2batch before units were row ranges covers its whole file,
  and its key (jobs/plan/input_units.whole_file_key) says whether that file is unchanged;
  upgraded, it is the range from row 0 with the file's identity (a changed or vanished
  file keeps no identity, and its unit is retired or refused as any changed unit is);
- the fingerprint lineage and rows by fingerprint (before `--retry-rejects`): the one
  fingerprint that wrote it;
- label mode's records by label (counted from the unit's records files, once).
The attempts and token histograms of the report are not reconstructed: the report shows
those of the units written since.
"""

import logging
from collections import Counter
from dataclasses import replace

import pyarrow.parquet as pq

from jobs.plan.input_files import InputFile
from jobs.plan.input_units import whole_file_key
from jobs.storage.committed_unit import MANIFEST_VERSION, CommittedUnit
from jobs.storage.output_store import OutputStore

log = logging.getLogger("k2batch")


def upgrade_entries(store: OutputStore, committed: dict[str, CommittedUnit], files: list[InputFile], *,
                    label_column: str | None) -> dict[str, CommittedUnit]:
    """`committed` with every entry at MANIFEST_VERSION; upgraded entries are rewritten."""
    by_path = {file.path: file for file in files}
    upgraded, whole_files = {}, 0
    for key, entry in committed.items():
        if entry.version != MANIFEST_VERSION:
            whole_files += entry.start is None
            entry = upgrade_entry(entry, by_path.get(entry.input_path),
                                  labels=_labels(store, entry, label_column) if label_column else None)
            store.write_entry(entry)
        upgraded[key] = entry
    if whole_files:
        log.info("reusing %d whole-file unit(s) written before units were row ranges (manifest upgraded to version %d)",
                 whole_files, MANIFEST_VERSION)
    return upgraded


def upgrade_entry(entry: CommittedUnit, file: InputFile | None, *, labels: dict[str, int] | None) -> CommittedUnit:
    """A version 1 entry as version 2 (`file`: its input file as listed now, if any)."""
    start, size, version = entry.start, entry.input_size, entry.input_version
    if start is None:
        start = 0
        unchanged = file is not None and entry.key == whole_file_key(entry.job_fingerprint, file)
        size, version = (file.size, file.version) if unchanged else (None, None)
    return replace(
        entry, version=MANIFEST_VERSION, start=start, input_size=size, input_version=version,
        fingerprints=entry.fingerprints or [entry.job_fingerprint],
        fingerprint_rows=entry.fingerprint_rows or {entry.job_fingerprint: {"records": entry.records, "rejects": entry.rejects}},
        labels=labels,
    )


def _labels(store: OutputStore, entry: CommittedUnit, column: str) -> dict[str, int]:
    counts: Counter = Counter()
    for relative in entry.files.get("records", []):
        with store.fs.open(store.path(relative), "rb") as f:
            counts.update(pq.read_table(f, columns=[column]).column(0).to_pylist())
    return dict(counts)
