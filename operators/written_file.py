"""The writer's report: one `WrittenFile` per Parquet file the write stage stages. It
crosses Ray Data as one typed Arrow row (`WRITTEN_SCHEMA`) and is read back on the driver
with `WrittenFile.from_table`, so nothing downstream looks a value up by a string key.

Besides the rows and their tokens, a file reports what the run's finish needs of it,
so that the finish never reads the files back: reject reasons, labels (label mode), the
attempts each row took, and its rows' token counts as log-scale histograms (the report's),
and with task.confidence its records' confidences as a histogram (operators/record_confidence.py).
"""

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import pyarrow as pa

from operators.usage import USAGE_FIELDS, Usage

_COUNTS = pa.map_(pa.string(), pa.int64())
_HISTOGRAM = pa.map_(pa.int32(), pa.int64())
WRITTEN_SCHEMA = pa.schema([
    pa.field("unit", pa.string()), pa.field("kind", pa.string()), pa.field("path", pa.string()), pa.field("rows", pa.int64()),
    pa.field("prompt_tokens", pa.int64()), pa.field("completion_tokens", pa.int64()),
    pa.field("cached_prompt_tokens", pa.int64()),
    pa.field("reasons", _COUNTS), pa.field("labels", _COUNTS), pa.field("attempts", _HISTOGRAM),
    pa.field("prompt_token_buckets", _HISTOGRAM), pa.field("completion_token_buckets", _HISTOGRAM),
    # the engine's busy span over these rows' batches (operators/k2_engine.py TIMING)
    pa.field("replica", pa.string()), pa.field("engine_start", pa.float64()), pa.field("engine_end", pa.float64()),
    pa.field("deduplicated", pa.int64()),  # rows given a duplicate prompt's answer (operators/dedup.py)
    pa.field("confidence_buckets", _HISTOGRAM),  # task.confidence: records by operators/record_confidence.confidence_bucket
])
_OWN_COLUMNS = [name for name in WRITTEN_SCHEMA.names if name not in USAGE_FIELDS]  # the rest are the Usage's
BUCKETS_PER_DOUBLING = 4


def token_bucket(tokens: int) -> int:
    """A count's log-scale bucket: 4 per doubling, so a histogram of thousands of rows
    stays a few dozen numbers."""
    return int(BUCKETS_PER_DOUBLING * math.log2(tokens + 1))


def bucket_floor(bucket: int) -> float:
    """The smallest token count of `bucket`."""
    return 2 ** (bucket / BUCKETS_PER_DOUBLING) - 1


def histogram(values: Iterable[int], key=lambda value: value) -> dict[int, int]:
    return dict(Counter(key(int(value)) for value in values))


@dataclass(frozen=True)
class WrittenFile:
    unit: str  # the unit's key (its rows' `_unit`)
    kind: str  # records | rejects
    path: str  # in the run's staging folder
    rows: int
    usage: Usage
    reasons: dict[str, int] = field(default_factory=dict)  # rejects by reason code
    labels: dict[str, int] = field(default_factory=dict)  # label mode: records by label
    attempts: dict[int, int] = field(default_factory=dict)  # rows by the attempts they took
    prompt_token_buckets: dict[int, int] = field(default_factory=dict)  # records by token_bucket(prompt tokens)
    completion_token_buckets: dict[int, int] = field(default_factory=dict)
    replica: str | None = None  # the engine replica that answered the rows
    engine_start: float | None = None
    engine_end: float | None = None
    deduplicated: int = 0
    confidence_buckets: dict[int, int] = field(default_factory=dict)  # records by their _confidence's bucket

    @staticmethod
    def to_table(files: list["WrittenFile"]) -> pa.Table:
        rows = [{**{name: getattr(f, name) for name in _OWN_COLUMNS}, **f.usage.as_dict()} for f in files]
        return pa.Table.from_pylist(rows, schema=WRITTEN_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table) -> list["WrittenFile"]:
        files = []
        for row in table.to_pylist():
            usage = Usage(row.pop("prompt_tokens"), row.pop("completion_tokens"), row.pop("cached_prompt_tokens"))
            maps = {name: dict(row.pop(name) or []) for name in
                    ("reasons", "labels", "attempts", "prompt_token_buckets", "completion_token_buckets",
                     "confidence_buckets")}
            files.append(cls(usage=usage, **maps, **row))  # an Arrow map arrives as (key, value) pairs
        return files
