"""A review queue as Label Studio takes it: the project's labeling config (the declared
labels as choices; for an extraction, one control per field) and the tasks to import,
each with the model's answer and its confidence as a prediction (a pre-annotation a
person accepts or corrects). Formats: Label Studio's "Import pre-annotated data" and
its tags Text, Choices, TextArea."""

import json
import math
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd
import pyarrow as pa

from jobs.review.queue import ReviewQueue
from operators.record_confidence import as_dict
from schemas.labels import declared_labels

ID_KEY = "k2batch_id"  # the row's id in each task's data


def _text_name(column: str) -> str:
    return f"input_{column}"


def _choices(queue: ReviewQueue, field: str) -> list[str] | None:
    """The field's fixed values, if it is a string enum (a dictionary column)."""
    if field == queue.label_column:
        return queue.labels
    if queue.record_schema.arrow_schema.field(field).type == pa.dictionary(pa.int32(), pa.string()):
        return declared_labels(queue.record_schema, field)
    return None


def _controls(queue: ReviewQueue) -> list[str]:
    return [queue.label_column] if queue.label_column else queue.fields


def labeling_config(queue: ReviewQueue) -> str:
    """The project's labeling config (XML)."""
    target = quoteattr(_text_name(queue.text_columns[0]))
    parts = ["<View>"]
    for column in queue.text_columns:
        parts.append(f'  <Header value={quoteattr(column)}/>\n  <Text name={quoteattr(_text_name(column))} '
                     f'value={quoteattr("$" + column)}/>')
    for field in _controls(queue):
        parts.append(f"  <Header value={quoteattr(field)}/>")
        choices = _choices(queue, field)
        if choices is not None:
            options = "".join(f"\n    <Choice value={quoteattr(choice)}/>" for choice in choices)
            parts.append(f'  <Choices name={quoteattr(field)} toName={target} choice="single" showInline="true">'
                         f"{options}\n  </Choices>")
        else:
            parts.append(f'  <TextArea name={quoteattr(field)} toName={target} editable="true" maxSubmissions="1"/>')
    parts.append("</View>")
    return "\n".join(parts) + "\n"


def _plain(value: Any) -> Any:
    """A value as JSON takes it (numpy scalars and arrays, NaN as null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _result(queue: ReviewQueue, field: str, value: Any, score: float | None) -> dict:
    target = _text_name(queue.text_columns[0])
    if _choices(queue, field) is not None:
        item = {"from_name": field, "to_name": target, "type": "choices", "value": {"choices": [value]}}
    else:
        text = value if isinstance(value, str) else json.dumps(_plain(value), ensure_ascii=False)
        item = {"from_name": field, "to_name": target, "type": "textarea", "value": {"text": [text]}}
    return item if score is None else {**item, "score": score}


def tasks(queue: ReviewQueue) -> list[dict]:
    """One task per queued row; a record's task carries its answer as a prediction with
    `_confidence` as the score (a reject's has none: a person answers it)."""
    found = []
    for row in queue.rows.to_dict("records"):
        data = {ID_KEY: _plain(row[queue.id_column]), **{c: _plain(row[c]) for c in queue.text_columns}}
        task: dict[str, Any] = {"data": data}
        confidence = row.get("_confidence")
        if confidence is not None and not pd.isna(confidence):
            per_field = as_dict(row.get("_field_confidence"))
            result = [_result(queue, field, _plain(row[field]), per_field.get(field))
                      for field in _controls(queue) if _plain(row[field]) is not None]
            task["predictions"] = [{"model_version": queue.model_version, "score": float(confidence), "result": result}]
        found.append(task)
    return found
