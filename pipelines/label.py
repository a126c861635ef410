"""Label: one label per row, from `task.labels` (a synthesized schema, schemas/labels.py)
or a string-enum field of the job's schema (`task.label_field`).

Labeling is extraction with that schema: the same stages, with constrained decoding
holding the answer to the label set. What is particular to it: the spec rules on those
fields, the schema it builds, and the column that holds the label (summary.json's label
distribution, the preview's categorical column).
"""

from typing import Any

from operators.engine_settings import ConfidenceSettings
from pipelines.mode import Mode, TaskFields
from schemas.labels import LABEL_COLUMN, declared_labels, label_field_error, label_record_schema
from schemas.record_schema import RecordSchema


class Label(Mode):
    name = "label"
    description = "one of task.labels (or task.label_field) per row"
    task_fields = frozenset({"labels", "label_field"})
    confidence_default = True  # a request a row where the labels part, no generation: docs/confidence.md

    def check_task(self, task: TaskFields) -> None:
        if bool(task.labels) == bool(task.label_field):
            raise ValueError("task.labels: mode label needs task.labels, or task.label_field naming a field of task.schema "
                             "(one of them)")
        if task.label_field:
            self.require_schema(task)
        elif task.schema_ is not None:
            raise ValueError("task.schema: with task.labels the label schema is built for you; use task.label_field to "
                             "label with your own schema")

    def task_defaults(self, task: TaskFields) -> dict[str, Any]:
        if not task.labels:
            return super().task_defaults(task)
        return {**super().task_defaults(task), "tool_name": "record_label",
                "tool_description": "Record the one label that fits the input."}

    def confidence(self, task: TaskFields, record_schema: RecordSchema) -> ConfidenceSettings | None:
        """Every declared label's probability, the label chosen from them."""
        if not task.confidence:
            return None
        column = self.label_column(task)
        return ConfidenceSettings(label_field=column, labels=tuple(declared_labels(record_schema, column)))

    def record_schema(self, task: TaskFields) -> RecordSchema | None:
        return label_record_schema(task.labels, rationale=task.rationale) if task.labels else None

    def schema_problem(self, task: TaskFields, record_schema: RecordSchema) -> str | None:
        problem = task.label_field and label_field_error(record_schema, task.label_field)
        return f"task.label_field: {problem}" if problem else None

    def label_column(self, task: TaskFields) -> str | None:
        return task.label_field or LABEL_COLUMN


LABEL = Label()
