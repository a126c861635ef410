"""Label mode's own parts: the spec rules on task.labels / task.label_field, the tool it
names for a synthesized schema, the schema it builds or checks, and the column that
holds the label."""

import pytest

from pipelines.label import LABEL
from schemas.examples.news import Headline
from schemas.record_schema import RecordSchema
from tests.pipelines.test_mode import task

NO_TOOL = dict(schema_=None, tool_name=None, tool_description=None)


def refusal(**fields) -> str:
    with pytest.raises(ValueError) as raised:
        LABEL.check_task(task(**fields))
    return str(raised.value)


def test_labels_build_the_schema_and_name_the_tool():
    labels = task(labels=["a", "b"], rationale=True, **NO_TOOL)
    LABEL.check_task(labels)
    assert LABEL.task_defaults(labels) == {"tool_name": "record_label", "confidence": True,
                                           "tool_description": "Record the one label that fits the input."}
    schema = LABEL.record_schema(labels)
    assert schema.arrow_schema.names == ["label", "rationale"] and schema.source == "task.labels"
    assert LABEL.label_column(labels) == "label"


def test_a_label_field_labels_with_the_tasks_own_schema():
    field = task(label_field="topic")
    LABEL.check_task(field)
    assert LABEL.record_schema(field) is None and LABEL.task_defaults(field) == {"confidence": True}
    assert LABEL.label_column(field) == "topic"
    headline = RecordSchema.from_model(Headline)
    assert LABEL.schema_problem(field, headline) is None
    assert LABEL.schema_problem(task(label_field="title"), headline).startswith(
        "task.label_field: 'title' is not a string enum / Literal field")
    assert LABEL.schema_problem(task(labels=["a"]), LABEL.record_schema(task(labels=["a"]))) is None


def test_label_spec_errors_name_the_field():
    one_of = "task.labels: mode label needs task.labels, or task.label_field naming a field of task.schema (one of them)"
    assert refusal(**NO_TOOL) == one_of
    assert refusal(labels=["a"], label_field="topic") == one_of
    assert refusal(labels=["a"]) == ("task.schema: with task.labels the label schema is built for you; use "
                                     "task.label_field to label with your own schema")
    assert refusal(label_field="topic", schema_=None) == "task.schema: required in mode label"
    assert refusal(label_field="topic", tool_description=None) == "task.tool_description: required with task.schema"
    assert LABEL.task_fields == {"labels", "label_field"} and not LABEL.summary_turn and LABEL.preview_columns == {}
