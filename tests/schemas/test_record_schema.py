"""Loading schemas from a spec and validating answers against them."""

import json

import pytest

from schemas.examples.news import NewsHeadlines
from schemas.record_schema import SchemaLoadError, load_record_schema


def test_pydantic_reference_and_class_give_the_same_schema():
    by_name = load_record_schema("schemas.examples.news:NewsHeadlines")
    assert by_name.json_schema == load_record_schema(NewsHeadlines).json_schema
    assert by_name.fingerprint == load_record_schema(NewsHeadlines).fingerprint


def test_modules_outside_the_schemas_package_are_refused_unless_listed():
    with pytest.raises(SchemaLoadError, match="not allowed"):
        load_record_schema("os:PathLike")
    with pytest.raises(SchemaLoadError, match="not a pydantic model"):
        load_record_schema("json:JSONDecoder", allowed_modules=("json",))


def test_validation_errors_name_every_field():
    record_schema = load_record_schema(NewsHeadlines)
    record, errors = record_schema.validate({"city": "x" * 50, "headlines": [{"title": "t", "topic": "weather"}]})
    assert record is None
    assert "city" in errors and "country" in errors and "headlines.0.topic" in errors


def test_json_schema_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}, "required": ["n"]}))
    record_schema = load_record_schema(str(path))
    assert record_schema.validate({"n": 2}) == ({"n": 2}, None)
    record, errors = record_schema.validate({"n": 9})
    assert record is None and errors.startswith("n:")


def test_broken_json_schema_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"type": "objekt"}))
    with pytest.raises(SchemaLoadError, match="not a valid JSON Schema"):
        load_record_schema(str(path))
