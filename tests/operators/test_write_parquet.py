"""WriteUnitFiles: one file per unit and kind in staging, typed as the schema says, and a typed report."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from operators.usage import Usage
from operators.write_parquet import WriteUnitFiles
from operators.written_file import WRITTEN_SCHEMA, WrittenFile, token_bucket
from schemas.record_schema import RecordSchema

SCHEMA = RecordSchema(json_schema={"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
                      source="test")


def answered(**extra) -> pd.DataFrame:
    return pd.DataFrame({
        "doc_id": ["a", "b", "c"], "_unit": ["u1", "u1", "u2"],
        "_record_json": ['{"title": "A"}', None, '{"title": "C"}'], "_reason": [None, "schema_invalid", None],
        "error": [None, "bad", None], "raw_output": [None, "<tool_call>{", None], "_attempts": [1, 3, 2],
        "_prompt_tokens": [10, 30, 20], "_completion_tokens": [5, 9, 6], "_cached_prompt_tokens": [4, 8, 0],
        "_truncated": [False, False, True], **extra,
    })


def test_each_unit_and_kind_is_one_typed_file_and_the_report_adds_up(tmp_path):
    writer = WriteUnitFiles(filesystem=LocalFileSystem(), staging_dir=str(tmp_path), id_field=pa.field("doc_id", pa.string()),
                            record_schema=SCHEMA, metadata={"k2batch.test": "1", "k2batch.job_fingerprint": "fp1"})
    report = writer(answered())
    assert report.schema == WRITTEN_SCHEMA
    rows = {(r.unit, r.kind): r for r in WrittenFile.from_table(report)}
    assert set(rows) == {("u1", "records"), ("u1", "rejects"), ("u2", "records")}
    assert rows[("u1", "rejects")].reasons == {"schema_invalid": 1}, "reason counts stay integers"
    assert rows[("u1", "records")].usage == Usage(10, 5, 4) and rows[("u2", "records")].usage.cached_prompt_tokens == 0
    # what the finish needs without reading the files back: attempts, and the records' token histograms
    assert rows[("u1", "rejects")].attempts == {3: 1} and rows[("u2", "records")].attempts == {2: 1}
    assert rows[("u2", "records")].completion_token_buckets == {token_bucket(6): 1}
    assert rows[("u1", "rejects")].prompt_token_buckets == {}, "token histograms are the records'"
    assert rows[("u1", "records")].labels == {}, "labels are counted in label mode only"
    records = pq.read_table(rows[("u2", "records")].path)
    assert records.column_names == ["doc_id", "title", "_attempts", "_prompt_tokens", "_completion_tokens", "_truncated",
                                    "_fingerprint"]
    assert records.schema.metadata[b"k2batch.test"] == b"1"
    assert records.to_pylist()[0]["_truncated"] is True and records.to_pylist()[0]["_fingerprint"] == "fp1"
    rejects = pq.read_table(rows[("u1", "rejects")].path).to_pylist()
    assert rejects == [{"doc_id": "b", "reason": "schema_invalid", "error": "bad", "raw_output": "<tool_call>{", "_attempts": 3,
                       "_fingerprint": "fp1"}]


def test_the_summary_column_follows_the_record_fields(tmp_path):
    writer = WriteUnitFiles(filesystem=LocalFileSystem(), staging_dir=str(tmp_path), id_field=pa.field("doc_id", pa.string()),
                            record_schema=SCHEMA, metadata={}, summary_column=True)
    report = writer(answered(_summary=["- A", None, "- C"]))
    path = [r.path for r in WrittenFile.from_table(report) if r.kind == "records" and r.unit == "u1"][0]
    table = pq.read_table(path)
    assert table.column_names[:3] == ["doc_id", "title", "summary"] and table.column("summary").to_pylist() == ["- A"]


def test_a_batch_without_a_column_it_reads_is_named(tmp_path):
    import pytest

    writer = WriteUnitFiles(filesystem=LocalFileSystem(), staging_dir=str(tmp_path), id_field=pa.field("doc_id", pa.string()),
                            record_schema=SCHEMA, metadata={}, summary_column=True)
    with pytest.raises(KeyError, match="_summary"):
        writer(answered())


def test_label_mode_counts_each_files_records_by_label(tmp_path):
    schema = RecordSchema(json_schema={"type": "object", "properties": {"label": {"enum": ["A", "C"]}}, "required": ["label"]},
                          source="test")
    writer = WriteUnitFiles(filesystem=LocalFileSystem(), staging_dir=str(tmp_path), id_field=pa.field("doc_id", pa.string()),
                            record_schema=schema, metadata={}, label_column="label")
    frame = answered()
    frame["_record_json"] = ['{"label": "A"}', None, '{"label": "C"}']
    frame.loc[0, "_unit"] = "u2"
    files = {(r.unit, r.kind): r for r in WrittenFile.from_table(writer(frame))}
    assert files[("u2", "records")].labels == {"A": 1, "C": 1}
    assert files[("u1", "rejects")].labels == {}
