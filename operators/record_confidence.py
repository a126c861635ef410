"""The confidence columns of a record (task.confidence), and the histogram of
`_confidence` the writer reports per file, from which summary.json's quantiles, the
report's histogram and the count below `task.review_below` come without reading any
file back."""

import json
import math

import pandas as pd
import pyarrow as pa

from operators.engine_settings import ConfidenceSettings

CONFIDENCE_FIELD = pa.field("_confidence", pa.float64())  # the chosen label's probability, or the lowest field's
# A list of (name, probability) structs rather than an Arrow map: the same Parquet layout,
# and one that 🤗 datasets reads (it has no map feature and refuses a file with a map column).
NAMED_PROBABILITIES = pa.list_(pa.struct([("name", pa.string()), ("probability", pa.float64())]))
LABEL_PROBS_FIELD = pa.field("_label_probs", NAMED_PROBABILITIES)  # label mode: every declared label
FIELD_CONFIDENCE_FIELD = pa.field("_field_confidence", NAMED_PROBABILITIES)  # each top-level field
# The engine stage's columns of an answer's Confidence (operators/confident_answer.py): the
# maps as JSON text, since a map's keys vary from row to row and Ray Data would turn a
# column of dicts into a struct of every key.
CONFIDENCE_COLUMNS = ("_confidence", "_label_probs_json", "_field_confidence_json")
CONFIDENCE_BUCKETS = 100  # equal widths on [0, 1]: bucket b holds confidences in [b/100, (b+1)/100)


def confidence_fields(confidence: ConfidenceSettings | None) -> list[pa.Field]:
    if confidence is None:
        return []
    per = LABEL_PROBS_FIELD if confidence.label_field is not None else FIELD_CONFIDENCE_FIELD
    return [per, CONFIDENCE_FIELD]


def add_confidence(data: list[dict], rows: pd.DataFrame, confidence: ConfidenceSettings) -> None:
    """Put each record row's confidence columns (from the engine stage's
    operators/confident_answer.CONFIDENCE_COLUMNS) into `data`, in place."""
    name, source = ((LABEL_PROBS_FIELD.name, "_label_probs_json") if confidence.label_field is not None
                    else (FIELD_CONFIDENCE_FIELD.name, "_field_confidence_json"))
    for row, value, per in zip(data, rows["_confidence"], rows[source]):
        row[CONFIDENCE_FIELD.name] = None if value is None or pd.isna(value) else float(value)
        row[name] = named_probabilities(json.loads(per)) if isinstance(per, str) else None


def named_probabilities(probabilities: dict[str, float]) -> list[dict]:
    """A confidence column's value (NAMED_PROBABILITIES), in the dict's order."""
    return [{"name": name, "probability": p} for name, p in probabilities.items()]


def as_dict(value) -> dict[str, float]:
    """A confidence column's value as read back (a list or array of structs, or None) as a dict."""
    return {} if value is None else {entry["name"]: entry["probability"] for entry in value}


def confidence_bucket(value: float) -> int:
    # A hair above the product: 0.29 * 100 is 28.999..., which belongs in bucket 29.
    return min(CONFIDENCE_BUCKETS - 1, max(0, math.floor(value * CONFIDENCE_BUCKETS + 1e-9)))


def confidence_histogram(records: pa.Table) -> dict[int, int]:
    """Records by confidence_bucket of their `_confidence` (records without one left out)."""
    counts: dict[int, int] = {}
    for value in records.column(CONFIDENCE_FIELD.name).to_pylist():
        if value is not None:
            bucket = confidence_bucket(value)
            counts[bucket] = counts.get(bucket, 0) + 1
    return counts


def rows_below(histogram: dict[int, int], threshold: float) -> int:
    """Records whose confidence is below `threshold` (a multiple of 1/CONFIDENCE_BUCKETS)."""
    return sum(n for bucket, n in histogram.items() if bucket < round(threshold * CONFIDENCE_BUCKETS))


def quantiles(histogram: dict[int, int], levels: tuple[float, ...]) -> dict[str, float]:
    """Each level's quantile of the confidences, read from the histogram (interpolated
    within the bucket where the level's share of the records is reached: to within 0.01)."""
    total = sum(histogram.values())
    found = {}
    for level in levels:
        need, seen = level * total, 0
        for bucket in sorted(histogram):
            if seen + histogram[bucket] >= need:
                found[f"p{round(level * 100):02d}"] = round((bucket + (need - seen) / histogram[bucket]) / CONFIDENCE_BUCKETS, 4)
                break
            seen += histogram[bucket]
    return found
