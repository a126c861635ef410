"""Ray Data stage: write each batch's records and rejects as typed Parquet files
into the run's staging folder, one file per unit and kind, and report what it wrote
(operators/written_file.py).

Files are committed (moved out of staging, listed in the manifest) by the driver
once every row of their unit is written: see jobs/storage/output_store.py.
"""

import json
import uuid
from collections import Counter

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from operators.engine_settings import ConfidenceSettings
from operators.record_confidence import CONFIDENCE_COLUMNS, add_confidence, confidence_fields, confidence_histogram
from operators.usage import Usage
from operators.written_file import WrittenFile, histogram, token_bucket
from schemas.arrow_types import table_from_rows
from schemas.record_schema import RecordSchema
from schemas.record_shape import storage_type

READS = ("_unit", "_record_json", "_reason", "error", "raw_output", "_attempts", "_prompt_tokens", "_completion_tokens",
         "_cached_prompt_tokens", "_truncated")
# `_fingerprint`: the job fingerprint that produced the row (an output holds several after
# `--retry-rejects`); files written before it have no such column, their metadata says it.
FINGERPRINT_FIELD = pa.field("_fingerprint", pa.string())
FINGERPRINT_KEY = "k2batch.job_fingerprint"  # the file's metadata key of the same
RECORD_EXTRAS = [pa.field("_attempts", pa.int32()), pa.field("_prompt_tokens", pa.int64()), pa.field("_completion_tokens", pa.int64()),
                 pa.field("_truncated", pa.bool_()), FINGERPRINT_FIELD]
SUMMARY_FIELD = pa.field("summary", pa.string(), nullable=False)  # summarize mode: after the record's fields
REJECT_FIELDS = [pa.field("reason", pa.string()), pa.field("error", pa.string()), pa.field("raw_output", pa.string()), pa.field("_attempts", pa.int32()),
                 FINGERPRINT_FIELD]


def records_arrow_schema(id_field: pa.Field, record_schema: RecordSchema, metadata: dict[str, str],
                         summary_column: bool = False, confidence: ConfidenceSettings | None = None) -> pa.Schema:
    """The records' Parquet schema; its metadata adds the record schema's own (a wrapped
    root's `k2batch.root_column`). With task.confidence, the confidence columns come last."""
    own = {k.decode(): v.decode() for k, v in (record_schema.arrow_schema.metadata or {}).items()}
    return pa.schema([id_field, *record_schema.arrow_schema, *([SUMMARY_FIELD] if summary_column else []), *RECORD_EXTRAS,
                      *confidence_fields(confidence)], metadata={**metadata, **own})


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with JSON columns as strings and enums as their values (`storage_type`)."""
    return pa.schema([f.with_type(storage_type(f.type)) for f in schema], metadata=schema.metadata)


def rejects_arrow_schema(id_field: pa.Field, metadata: dict[str, str]) -> pa.Schema:
    return pa.schema([id_field, *REJECT_FIELDS], metadata=metadata)


class WriteUnitFiles:
    def __init__(self, *, filesystem, staging_dir: str, id_field: pa.Field, record_schema: RecordSchema,
                 metadata: dict[str, str], summary_column: bool = False, label_column: str | None = None,
                 confidence: ConfidenceSettings | None = None, plain_types: bool = False):
        self.fs = filesystem
        self.summary_column = summary_column  # reads `_summary` and writes it as the `summary` column
        self.staging_dir = staging_dir.rstrip("/")
        self.id_column = id_field.name
        self.record_schema = record_schema
        self.confidence = confidence  # task.confidence: the records' confidence columns (operators/record_confidence.py)
        self.records_schema = records_arrow_schema(id_field, record_schema, metadata, summary_column, confidence)
        if plain_types:  # a table's data file: Iceberg and Delta have no JSON or dictionary type
            self.records_schema = plain_schema(self.records_schema)
        self.rejects_schema = rejects_arrow_schema(id_field, metadata)
        self.fingerprint = metadata.get(FINGERPRINT_KEY)
        self.label_column = label_column  # label mode: records are counted by this column's value

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        missing = [c for c in (self.id_column, *READS, *(["_summary"] if self.summary_column else []),
                               *(CONFIDENCE_COLUMNS if self.confidence else ())) if c not in batch.columns]
        if missing:
            raise KeyError(f"write_parquet: input batch lacks columns {missing}")
        written = []
        for unit, rows in batch.groupby("_unit", sort=False):
            is_record = rows["_record_json"].notna()
            for kind, part, table in (
                ("records", rows[is_record], self._records_table),
                ("rejects", rows[~is_record], self._rejects_table),
            ):
                if part.empty:
                    continue
                path = f"{self.staging_dir}/{kind}-{uuid.uuid4().hex}.parquet"
                self.fs.makedirs(self.staging_dir, exist_ok=True)
                arrow = table(part)
                with self.fs.open(path, "wb") as f:
                    pq.write_table(arrow, f)
                written.append(self._report(unit, kind, path, part, arrow))
        return WrittenFile.to_table(written)

    def _report(self, unit: str, kind: str, path: str, part: pd.DataFrame, arrow: pa.Table) -> WrittenFile:
        records = kind == "records"
        labels = {}
        if records and self.label_column:
            labels = {item["values"]: item["counts"] for item in pc.value_counts(arrow.column(self.label_column)).to_pylist()}
        return WrittenFile(
            unit=unit, kind=kind, path=path, rows=len(part),
            usage=Usage(int(part["_prompt_tokens"].sum()), int(part["_completion_tokens"].sum()),
                        int(part["_cached_prompt_tokens"].sum())),
            reasons=dict(Counter(part["_reason"].dropna())), labels=labels, attempts=histogram(part["_attempts"]),
            prompt_token_buckets=histogram(part["_prompt_tokens"], token_bucket) if records else {},
            completion_token_buckets=histogram(part["_completion_tokens"], token_bucket) if records else {},
            **_engine_span(part),
            deduplicated=int(part["_deduplicated"].fillna(False).astype(bool).sum()) if "_deduplicated" in part else 0,
            confidence_buckets=confidence_histogram(arrow) if records and self.confidence else {},
        )

    def _records_table(self, rows: pd.DataFrame) -> pa.Table:
        data = [
            {self.id_column: row_id, **self.record_schema.to_arrow_row(json.loads(record)),
             "_attempts": attempts, "_prompt_tokens": prompt_tokens, "_completion_tokens": completion_tokens,
             "_truncated": bool(truncated), "_fingerprint": self.fingerprint}
            for row_id, record, attempts, prompt_tokens, completion_tokens, truncated in zip(
                rows[self.id_column], rows["_record_json"], rows["_attempts"], rows["_prompt_tokens"],
                rows["_completion_tokens"], rows["_truncated"])
        ]
        if self.summary_column:
            for row, summary in zip(data, rows["_summary"]):
                row["summary"] = summary
        if self.confidence:
            add_confidence(data, rows, self.confidence)
        return table_from_rows(data, self.records_schema)

    def _rejects_table(self, rows: pd.DataFrame) -> pa.Table:
        return pa.Table.from_pandas(
            pd.DataFrame({
                self.id_column: rows[self.id_column].to_list(),
                "reason": rows["_reason"].to_list(),
                "error": rows["error"].to_list(),
                "raw_output": rows["raw_output"].to_list(),
                "_attempts": rows["_attempts"].astype("int32").to_list(),
                "_fingerprint": [self.fingerprint] * len(rows),
            }),
            schema=self.rejects_schema, preserve_index=False,
        )


def _engine_span(rows: pd.DataFrame) -> dict:
    """Which replica answered the rows and when (nothing for rows from before TIMING)."""
    if "_engine_start" not in rows.columns:
        return {"replica": None, "engine_start": None, "engine_end": None}
    return {"replica": str(rows["_replica"].iloc[0]), "engine_start": float(rows["_engine_start"].min()),
            "engine_end": float(rows["_engine_end"].max())}
