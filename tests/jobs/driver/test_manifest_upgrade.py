"""The manifest's one upgrade step: an entry of the previous layout (no `version`) becomes
a version 2 entry, rewritten once, with its range, fingerprint lineage and (label mode)
records by label. The end-to-end resume of such an output is in test_resume_plan.py."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from jobs.driver.manifest_upgrade import upgrade_entries
from jobs.plan.input_files import InputFile
from jobs.plan.input_units import whole_file_key
from jobs.storage.committed_unit import MANIFEST_VERSION
from jobs.storage.output_store import OutputStore

FILE = InputFile(path="in/a.parquet", size=10, version="v1", row_groups=(4,), schema=None)


def old_output(tmp_path, file: InputFile = FILE):
    """An output as the previous layout left it: one whole-file entry, its records file."""
    key = whole_file_key("fp", file)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "label": ["x", "y", "x"]}), tmp_path / "records.parquet")
    (tmp_path / "_manifest").mkdir()
    (tmp_path / "_manifest" / f"{key}.json").write_text(json.dumps({
        "key": key, "input_path": file.path, "job_fingerprint": "fp", "rows": 4, "records": 3, "rejects": 1,
        "prompt_tokens": 40, "completion_tokens": 8, "reasons": {"truncated": 1},
        "files": {"records": ["records.parquet"]}}))
    return OutputStore(LocalFileSystem(), str(tmp_path)), key


def test_a_whole_file_entry_becomes_a_range_with_its_lineage_and_labels(tmp_path):
    store, key = old_output(tmp_path)
    committed = store.committed()
    assert committed[key].version == 1
    upgraded = upgrade_entries(store, committed, [FILE], label_column="label")[key]
    assert (upgraded.version, upgraded.start, upgraded.rows) == (MANIFEST_VERSION, 0, 4)
    assert (upgraded.input_size, upgraded.input_version) == (FILE.size, FILE.version)
    assert upgraded.fingerprints == ["fp"] and upgraded.fingerprint_rows == {"fp": {"records": 3, "rejects": 1}}
    assert upgraded.labels == {"x": 2, "y": 1}
    assert upgraded.usage.prompt_tokens == 40
    assert store.committed()[key] == upgraded, "the upgraded entry is written back, once"


def test_an_entry_whose_file_changed_keeps_no_identity(tmp_path):
    store, key = old_output(tmp_path)
    changed = InputFile(path=FILE.path, size=11, version="v2", row_groups=(4,), schema=None)
    upgraded = upgrade_entries(store, store.committed(), [changed], label_column=None)[key]
    assert (upgraded.input_size, upgraded.input_version, upgraded.labels) == (None, None, None)
