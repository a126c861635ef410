"""`k2batch review`'s files: the queue as Parquet, the Label Studio tasks to import and
the labeling config of the project to import them into."""

import io
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.review.label_studio import labeling_config, tasks
from jobs.review.queue import ReviewQueue
from jobs.storage.filesystem import filesystem_for
from operators.record_confidence import FIELD_CONFIDENCE_FIELD, LABEL_PROBS_FIELD

QUEUE_NAME = "review.parquet"
TASKS_NAME = "label-studio-tasks.json"
CONFIG_NAME = "label-studio-config.xml"


@dataclass(frozen=True)
class ReviewFiles:
    folder: str
    rows: int

    def names(self) -> list[str]:
        return [f"{self.folder}/{name}" for name in (QUEUE_NAME, TASKS_NAME, CONFIG_NAME)]


def _arrow(queue: ReviewQueue) -> pa.Table:
    """The queue as Arrow; the confidence columns typed as the records have them."""
    typed = {field.name: field.type for field in (LABEL_PROBS_FIELD, FIELD_CONFIDENCE_FIELD)}
    rows = queue.rows
    return pa.table({name: pa.array(rows[name].tolist(), type=typed.get(name), from_pandas=True) for name in rows.columns})


def write_review(queue: ReviewQueue, folder: str, storage_options: dict | None = None) -> ReviewFiles:
    """Write the three files into `folder` (a local path or fsspec URL), replacing earlier ones."""
    fs, root = filesystem_for(folder, storage_options or {})
    fs.makedirs(root, exist_ok=True)
    buffer = io.BytesIO()
    pq.write_table(_arrow(queue), buffer)
    fs.pipe_file(f"{root}/{QUEUE_NAME}", buffer.getvalue())
    fs.pipe_file(f"{root}/{TASKS_NAME}", json.dumps(tasks(queue), ensure_ascii=False, indent=1).encode())
    fs.pipe_file(f"{root}/{CONFIG_NAME}", labeling_config(queue).encode())
    return ReviewFiles(folder=folder.rstrip("/"), rows=len(queue.rows))
