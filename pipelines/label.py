"""Label: one label per row, from `task.labels` (a synthesized schema, schemas/labels.py)
or a string-enum field of the job's schema (`task.label_field`).

Labeling is extraction with that schema: the same stages, with constrained decoding
holding the answer to the label set. What is particular to it is the label
distribution that summary.json reports.
"""

from collections import Counter

import pyarrow.parquet as pq
import ray

from jobs.output_store import committed_files
from pipelines.extract import ExtractPlan, build_extract
from schemas.labels import declared_labels
from schemas.record_schema import RecordSchema


def build_label(plan: ExtractPlan) -> ray.data.Dataset:
    return build_extract(plan)


def label_distribution(output_uri: str, storage_options: dict, fs, record_schema: RecordSchema, column: str) -> dict[str, int]:
    """Records per label over every committed unit (reused ones too), each declared
    label listed, in schema order, even when no record has it."""
    counts = Counter({label: 0 for label in declared_labels(record_schema, column)})
    for path in committed_files(output_uri, "records", storage_options):
        with fs.open(path, "rb") as f:
            counts.update(pq.read_table(f, columns=[column]).column(0).to_pylist())
    return dict(counts)
