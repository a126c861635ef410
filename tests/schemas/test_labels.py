"""Label mode's synthesized schema and the label-field checks: what the model is held
to, how the label is written, and the spec errors a user sees."""

import json

import jsonschema
import pyarrow as pa
import pytest
from pydantic import ValidationError

from jobs.spec import JobSpec
from schemas.constraint_compile import compile_constraint
from schemas.examples.news import Headline, NewsHeadlines
from schemas.labels import declared_labels, label_field_error, label_json_schema, label_record_schema
from schemas.record_schema import RecordSchema
from schemas.tool_call import tool_call_json_schema
from tests.conftest import job_spec


def test_labels_become_an_enum_written_as_a_dictionary_column():
    schema = label_record_schema(["positive", "negative", "neutral"])
    assert schema.arrow_schema.names == ["label"]
    assert schema.arrow_schema.field("label").type == pa.dictionary(pa.int32(), pa.string())
    assert schema.validate({"label": "neutral"}) == ({"label": "neutral"}, None)
    record, errors = schema.validate({"label": "angry"})
    assert record is None and "'angry' is not one of" in errors
    assert declared_labels(schema, "label") == ["positive", "negative", "neutral"]


def test_descriptions_reach_the_model_and_rationale_is_bounded():
    schema = label_json_schema({"positive": "praises the product", "negative": "complains"}, rationale=True)
    assert "positive: praises the product; negative: complains" in schema["properties"]["label"]["description"]
    assert schema["properties"]["rationale"]["maxLength"] == 200
    assert schema["required"] == ["label", "rationale"]
    jsonschema.Draft202012Validator.check_schema(schema)
    compile_constraint(tool_call_json_schema(name="record_label", parameters=schema))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"label": "positive", "rationale": "x" * 201}, schema)


def test_a_literal_field_of_a_schema_can_hold_the_label():
    headline = RecordSchema.from_model(Headline)
    assert label_field_error(headline, "topic") is None
    assert declared_labels(headline, "topic") == ["politics", "business", "science", "sports", "culture"]
    assert "not a string enum" in label_field_error(headline, "title")
    assert "not a top-level field" in label_field_error(RecordSchema.from_model(NewsHeadlines), "topic")


def label_task(**task) -> dict:
    spec = job_spec(task={"mode": "label", "prompt": "Label: {body}", **task})
    for key in ("schema", "tool_name", "tool_description"):
        if key not in task:
            spec["task"].pop(key)
    return spec


def test_label_mode_defaults_the_tool_and_needs_no_schema():
    spec = JobSpec.model_validate(label_task(labels=["a", "b"]))
    assert spec.task.schema_ is None and spec.task.tool_name == "record_label"
    assert json.loads(spec.model_dump_json(by_alias=True))["task"]["labels"] == ["a", "b"]


@pytest.mark.parametrize(("task", "message"), [
    ({}, "task.labels: mode label needs task.labels, or task.label_field"),
    ({"labels": ["a", "a"]}, "labels must be distinct non-empty names"),
    ({"labels": []}, "labels must be distinct non-empty names"),
    ({"labels": ["a"], "schema": "schemas.examples.news:Headline"}, "task.schema: with task.labels the label schema is built"),
    ({"label_field": "topic"}, "task.schema: required in mode label"),
    ({"labels": ["a"], "label_field": "topic"}, "task.labels: mode label needs task.labels, or task.label_field"),
    ({"labels": ["a"], "response_column": "x"}, "task.response_column: not used in mode label"),
])
def test_label_spec_errors_name_the_field(task, message):
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        JobSpec.model_validate(label_task(**task))


@pytest.mark.parametrize(("task", "message"), [
    ({"labels": ["a"]}, "task.labels: not used in mode extract"),
    ({"rationale": True}, "task.rationale: only with task.labels"),
    ({"mode": "summarize", "response_column": "x"}, "task.response_column: a summary of an existing column has no extraction turn"),
    ({"mode": "summarize", "schema": None}, "task.schema: required in mode summarize (or task.response_column"),
    ({"tool_name": None}, "task.tool_name: required with task.schema"),
])
def test_other_modes_refuse_label_and_summary_fields(task, message):
    with pytest.raises(ValidationError, match=message.replace(".", r"\.").replace("(", r"\(")):
        JobSpec.model_validate(job_spec(task=task))
