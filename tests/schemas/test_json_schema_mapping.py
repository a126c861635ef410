"""How a JSON Schema a user brings maps to Arrow (one case per README example), what the
decoder is held to, how records are validated, and how they read back."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.arrow_types import table_from_rows
from schemas.record_schema import ROOT_COLUMN_METADATA, RecordSchema
from schemas.schema_error import UnsupportedSchemaError

ENUM = pa.dictionary(pa.int32(), pa.string())
CIRCLE = {"type": "object", "properties": {"radius": {"type": "number"}}, "required": ["radius"]}
SQUARE = {"type": "object", "properties": {"side": {"type": "number"}}, "required": ["side"]}


def record_schema(schema) -> RecordSchema:
    return RecordSchema(json_schema=schema, source="inline")


def one_field(prop: dict, required: bool = True) -> pa.Field:
    schema = {"type": "object", "properties": {"x": prop}, "required": ["x"] if required else []}
    return record_schema(schema).arrow_schema.field("x")


def round_trip(schema: RecordSchema, record) -> object:
    """`record` written to Parquet the way the writer does, read back as JSON."""
    arguments = {"value": record} if schema.wrapped else record
    valid, errors = schema.validate(arguments)
    assert errors is None, errors
    buffer = io.BytesIO()
    pq.write_table(table_from_rows([schema.to_arrow_row(valid)], schema.arrow_schema), buffer)
    return schema.from_arrow_row(pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()[0])


@pytest.mark.parametrize(("prop", "arrow_type"), [
    ({"type": "string"}, pa.string()),
    ({"type": "integer"}, pa.int64()),
    ({"type": "number"}, pa.float64()),
    ({"type": "boolean"}, pa.bool_()),
    ({"enum": ["low", "high"]}, ENUM),
    ({"type": "array", "items": {"type": "string"}}, pa.list_(pa.string())),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
     pa.struct([pa.field("a", pa.int64(), nullable=False)])),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, pa.map_(pa.string(), pa.int64())),
    ({"type": "object", "patternProperties": {"^x-": {"enum": ["a", "b"]}}}, pa.map_(pa.string(), ENUM)),
    ({"anyOf": [CIRCLE, SQUARE]}, pa.json_()),
    ({"type": ["string", "array"], "items": {"type": "string"}}, pa.json_()),
    ({}, pa.json_()),
    (True, pa.json_()),
    ({"type": "object"}, pa.json_()),
    ({"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}, pa.json_()),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}, pa.json_()),
    ({"enum": ["a", 1]}, pa.json_()),
    ({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}, pa.string()),
    ({"anyOf": [{"enum": ["a", "b"]}, {"type": "string"}]}, pa.string()),
    ({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}},
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]},
     pa.struct([pa.field("a", pa.string()), pa.field("b", pa.int64(), nullable=False)])),
    ({"minLength": 2}, pa.string()),
], ids=["string", "integer", "number", "boolean", "enum", "list", "struct", "map", "pattern-map", "union-of-objects",
        "type-list", "no-type", "true", "free-form-object", "map-of-mixed-values", "tuple", "mixed-enum",
        "alternatives-of-one-type", "enum-or-string", "allOf", "type-from-keywords"])
def test_each_schema_node_has_one_column_type(prop, arrow_type):
    assert one_field(prop).type == arrow_type


def test_a_union_with_null_is_the_other_type_nullable():
    field = one_field({"anyOf": [{"type": "string"}, {"type": "null"}]})
    assert field.type == pa.string() and field.nullable
    assert one_field({"type": ["integer", "null"]}).nullable
    assert not one_field({"type": "integer"}).nullable and one_field({"type": "integer"}, required=False).nullable


def test_a_recursive_schema_nests_until_it_recurs_then_holds_json():
    tree = {"$defs": {"node": {"type": "object", "properties": {
        "label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["label"]}},
        "$ref": "#/$defs/node"}
    schema = record_schema(tree)
    assert schema.arrow_schema.names == ["label", "children"] and schema.arrow_schema.field("children").type == pa.list_(pa.json_())
    record = {"label": "a", "children": [{"label": "b", "children": [{"label": "c"}]}]}
    assert round_trip(schema, record) == record


@pytest.mark.parametrize(("root", "value"), [
    ({"type": "array", "items": {"type": "string"}}, ["a", "b"]),
    ({"type": "string", "format": "date"}, "2024-02-29"),
    ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1, "b": 2}),
    ({"oneOf": [CIRCLE, SQUARE]}, {"side": 2.0}),
    ({"type": ["object", "null"]}, None),
], ids=["array", "scalar", "map", "union", "free-form-or-null"])
def test_a_root_that_is_not_an_object_with_properties_is_wrapped_as_value(root, value):
    schema = record_schema(root)
    assert schema.wrapped and schema.arrow_schema.names == ["value"]
    assert schema.arrow_schema.metadata == {ROOT_COLUMN_METADATA.encode(): b"value"}
    assert schema.tool_parameters["properties"]["value"]["type" if "type" in root else "oneOf"] == root.get("type", root.get("oneOf"))
    assert schema.constraint_parameters["required"] == ["value"]
    assert round_trip(schema, value) == value
    record, errors = schema.validate(value if isinstance(value, dict) else {"not": "wrapped"})
    assert record is None and "one key, value" in errors


def test_draft_07_definitions_and_pointer_references_resolve_under_the_tool_call():
    schema = record_schema({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"point": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}},
        "type": "object",
        "properties": {"a": {"$ref": "#/definitions/point"}, "b": {"$ref": "#/properties/a"},
                       "c": {"$id": "#c-anchor", "type": "string"}, "d": {"$ref": "#c-anchor"}},
        "required": ["a", "b"],
    })
    constraint = schema.constraint_parameters
    refs = {constraint["properties"][k]["$ref"] for k in ("a", "b", "d")}
    assert all(ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in constraint["$defs"] for ref in refs)
    assert schema.arrow_schema.field("b").type == pa.struct([pa.field("x", pa.int64(), nullable=False)])
    assert schema.validate({"a": {"x": 1}, "b": {"x": "no"}})[1].startswith("b.x: 'no' is not of type 'integer'")


def test_id_relative_and_anchor_references_resolve_without_fetching():
    schema = record_schema({
        "$id": "https://example.com/schemas/order.json", "type": "object", "required": ["qty", "who"],
        "$defs": {"qty": {"$id": "quantity.json", "type": "integer", "minimum": 1},
                  "name": {"$anchor": "person", "type": "string", "maxLength": 20}},
        "properties": {"qty": {"$ref": "quantity.json"}, "who": {"$ref": "#person"}}})
    assert schema.arrow_schema.field("qty").type == pa.int64() and schema.arrow_schema.field("who").type == pa.string()
    constraint = schema.constraint_parameters
    assert [constraint["$defs"][constraint["properties"][k]["$ref"].removeprefix("#/$defs/")]["type"] for k in ("qty", "who")] == [
        "integer", "string"]
    assert schema.validate({"qty": 0, "who": "Ann"})[1] == "qty: 0 is less than the minimum of 1"


@pytest.mark.parametrize(("ref", "message"), [
    ("http://example.com/point.json", "/properties/a/$ref: remote reference 'http://example.com/point.json': nothing is fetched"),
    ("other.json#/x", "/properties/a/$ref: reference 'other.json#/x' names another document"),
    ("#/definitions/missing", "/properties/a/$ref: reference '#/definitions/missing' points to nothing in the schema"),
])
def test_a_reference_outside_the_schema_is_refused_with_its_pointer(ref, message):
    with pytest.raises(UnsupportedSchemaError) as refused:
        record_schema({"type": "object", "properties": {"a": {"$ref": ref}}}).arrow_schema
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_boolean_subschemas_map_and_a_false_property_is_never_written():
    schema = record_schema({"type": "object", "properties": {"gone": False, "any": True, "n": {"type": "integer"}}})
    assert schema.arrow_schema.names == ["any", "n"] and schema.arrow_schema.field("any").type == pa.json_()
    assert "gone" not in schema.constraint_parameters["properties"]
    assert "False schema does not allow 1" in schema.validate({"gone": 1})[1]
    with pytest.raises(UnsupportedSchemaError, match="no value satisfies"):
        record_schema({"type": "object", "properties": {"gone": False}, "required": ["gone"]}).arrow_schema


def test_a_root_object_beside_anyof_is_held_to_objects():
    """xsd2jsonschema's shape: `type: object` with branches that only add `required`.
    Alone, xgrammar reads such a branch as any value (null included)."""
    schema = record_schema({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                            "anyOf": [{"required": ["a"]}, {"required": ["b"]}]})
    assert not schema.wrapped and schema.arrow_schema.names == ["a", "b"]
    assert [branch["type"] for branch in schema.constraint_parameters["anyOf"]] == ["object", "object"]
    assert [branch["required"] for branch in schema.constraint_parameters["anyOf"]] == [["a"], ["b"]]


def test_validation_uses_the_declared_draft_with_format_checking():
    draft4 = record_schema({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                            "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}})
    assert "n: 0 is less than or equal to the minimum of 0" in draft4.validate({"n": 0})[1]
    assert draft4.constraint_parameters["properties"]["n"] == {"type": "number", "exclusiveMinimum": 0}
    formats = record_schema({"type": "object", "properties": {
        "when": {"type": "string", "format": "date-time"}, "mail": {"type": "string", "format": "email"},
        "site": {"type": "string", "format": "uri"}, "host": {"type": "string", "format": "hostname"},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "n": {"type": "integer", "multipleOf": 5}}})
    errors = formats.validate({"when": "yesterday", "mail": "nobody", "site": "not a uri", "host": "-bad-", "tags": ["a", "a"],
                               "n": 7})[1]
    for field in ("when: 'yesterday' is not a 'date-time'", "mail: 'nobody' is not a 'email'", "site: 'not a uri' is not a 'uri'",
                  "host: '-bad-' is not a 'hostname'", "tags: ['a', 'a'] has non-unique elements", "n: 7 is not a multiple of 5"):
        assert field in errors
    assert formats.validate({"when": "2024-01-02T03:04:05Z", "mail": "a@b.co", "site": "https://x.org/a", "host": "x.org",
                             "tags": ["a", "b"], "n": 10}) == (
        {"when": "2024-01-02T03:04:05Z", "mail": "a@b.co", "site": "https://x.org/a", "host": "x.org", "tags": ["a", "b"], "n": 10},
        None)
    constraint = formats.constraint_parameters["properties"]
    assert "uniqueItems" not in constraint["tags"] and "multipleOf" not in constraint["n"], "vLLM refuses these with xgrammar"


def test_a_record_that_would_not_fit_its_columns_is_invalid():
    schema = record_schema({"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": True})
    assert schema.validate({"n": 2**70})[1] == f"n: {2**70} does not fit a 64-bit integer column"
    assert "no column holds them" in schema.validate({"n": 1, "extra": 2})[1]
    assert "additionalProperties" not in schema.constraint_parameters, "the decoder is held to the declared keys"


def test_reading_back_keeps_null_and_absent_apart_where_the_column_can():
    schema = record_schema({"type": "object", "properties": {
        "required_null": {"type": ["string", "null"]}, "optional": {"type": "string"}, "anything": {},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}, "required": ["required_null"]})
    assert round_trip(schema, {"required_null": None, "anything": None, "counts": {"a": 1}}) == {
        "required_null": None, "anything": None, "counts": {"a": 1}}
    assert round_trip(schema, {"required_null": "x", "optional": "y"}) == {"required_null": "x", "optional": "y"}


def test_pydantic_schemas_are_given_to_the_decoder_unchanged():
    from schemas.examples.company_news import CompanyNews
    from schemas.examples.nested import Contact
    from schemas.examples.news import NewsHeadlines

    for model in (CompanyNews, Contact, NewsHeadlines):
        schema = RecordSchema.from_model(model)
        assert schema.constraint_parameters == schema.tool_parameters == model.model_json_schema()
        assert not schema.wrapped and schema.arrow_schema.metadata is None


def test_schema_file_errors_name_the_pointer(tmp_path):
    from schemas.record_schema import SchemaLoadError, load_record_schema

    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "strin"}}}))
    with pytest.raises(SchemaLoadError, match=r"^/properties/a/type: .* is not a valid JSON Schema"):
        load_record_schema(str(path))
    path.write_text(json.dumps({"type": "object", "properties": {"a": {"enum": ["x", "x"]}}}))
    assert load_record_schema(str(path)).arrow_schema.field("a").type == ENUM, "a repeated enum value changes nothing"


def test_a_schema_of_shared_definitions_maps_in_bounded_time():
    """Each definition referenced twice by the one before: 2^40 paths if every reference
    expanded. Past the mapping's node budget, references are JSON columns."""
    defs = {f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"}, "b": {"$ref": f"#/$defs/d{i + 1}"}}}
            for i in range(40)}
    schema = record_schema({"$defs": {**defs, "d40": {"type": "string"}}, "$ref": "#/$defs/d0"})
    assert "extension<arrow.json>" in str(schema.arrow_schema)
    assert schema.validate({"a": {"b": {"a": {}}}}) == ({"a": {"b": {"a": {}}}}, None)
