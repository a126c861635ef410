"""The review queue: a finished output's least confident records first, beside the input
text they were answered from (and, on request, its rejects, which have no answer at all).

Everything comes from the output folder: the records' confidence columns
(operators/record_confidence.py), their Parquet metadata (the prompt template names the
text columns, the schema the fields, `k2batch.label_column` the label), and summary.json
(the input's URI and task.review_below)."""

import json
import string
from dataclasses import dataclass

import pandas as pd
import pyarrow.parquet as pq

from jobs.plan.input_files import list_parquet_files
from jobs.storage.committed import SCHEMA_METADATA, read_committed
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from schemas.labels import declared_labels
from schemas.record_schema import RecordSchema

LABEL_COLUMN_METADATA = b"k2batch.label_column"  # label mode: the record column holding the label (jobs/driver/summary.py)


class ReviewError(ValueError):
    """The output cannot give a review queue (no confidence, no finished run)."""


@dataclass
class ReviewQueue:
    rows: pd.DataFrame  # least confident first: id, text columns, the answer, _confidence, its parts; rejects' reason
    id_column: str
    text_columns: list[str]
    fields: list[str]  # the record's top-level fields
    label_column: str | None  # label mode
    labels: list[str]  # label mode: the declared labels, in order
    record_schema: RecordSchema
    model_version: str  # the job fingerprint that produced the records


def review_queue(uri: str, *, n: int | None = None, below: float | None = None, rejects: bool = False,
                 storage_options: dict | None = None, input_uri: str | None = None) -> ReviewQueue:
    """The `n` least confident records, or those below `below` (default: the job's
    task.review_below), with the rejects first when `rejects`. `input_uri`: where the
    input rows are, if not where summary.json says (read with the same storage options)."""
    if n is not None and below is not None:
        raise ReviewError("give n or below, not both")
    options = storage_options or {}
    summary = OutputStore(*filesystem_for(uri, options)).read_summary()
    if summary is None:
        raise ReviewError(f"no summary.json under {uri}: not the output of a finished k2batch run")
    if summary.confidence is None:
        raise ReviewError(f"{uri} has no confidence: run the job with task.confidence: true")
    records = read_committed(uri, "records", options)
    if records is None:
        raise ReviewError(f"{uri} has no committed records")
    metadata = records.schema.metadata or {}
    record_schema = RecordSchema(json_schema=json.loads(metadata[SCHEMA_METADATA]), source=uri)
    id_column = records.column_names[0]  # the id column comes first (operators/write_parquet.py)
    label_column = metadata.get(LABEL_COLUMN_METADATA, b"").decode() or None
    text_columns = list(dict.fromkeys(field for _, field, _, _ in string.Formatter().parse(
        metadata[b"k2batch.prompt_template"].decode()) if field))
    frame = records.to_pandas()
    if rejects and (rejected := read_committed(uri, "rejects", options)) is not None:
        frame = pd.concat([rejected.select([id_column, "reason", "error"]).to_pandas(), frame], ignore_index=True)
    frame = frame.sort_values("_confidence", na_position="first", kind="stable", ignore_index=True)
    threshold = summary.confidence.review_below if below is None and n is None else below
    if threshold is not None:
        frame = frame[frame["_confidence"].isna() | (frame["_confidence"] < threshold)] if rejects else \
            frame[frame["_confidence"] < threshold]
    if n is not None:
        frame = frame.head(n)
    texts = input_rows(input_uri or summary.input_uri, options, id_column, text_columns, set(frame[id_column]))
    frame = frame.merge(texts, on=id_column, how="left", validate="one_to_one")
    answer = [label_column] if label_column else record_schema.arrow_schema.names
    extras = [c for c in ("_confidence", "_label_probs", "_field_confidence", "reason", "error") if c in frame.columns]
    labels = declared_labels(record_schema, label_column) if label_column else []
    return ReviewQueue(rows=frame[[id_column, *text_columns, *answer, *extras]].reset_index(drop=True), id_column=id_column,
                       text_columns=text_columns, fields=record_schema.arrow_schema.names, label_column=label_column,
                       labels=labels, record_schema=record_schema,
                       model_version=summary.fingerprints.get("job", "k2batch"))


def input_rows(uri: str | None, storage_options: dict, id_column: str, columns: list[str], ids: set) -> pd.DataFrame:
    """The id and text columns of the input rows whose id is in `ids`."""
    if uri is None:
        raise ReviewError("summary.json does not say where the input is (an output of an earlier k2batch): pass the input")
    fs, path = filesystem_for(uri, storage_options)
    frames = []
    for file in list_parquet_files(fs, path, uri):
        with fs.open(file, "rb") as f:
            table = pq.read_table(f, columns=[id_column, *columns]).to_pandas()
        frames.append(table[table[id_column].isin(ids)])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[id_column, *columns])
