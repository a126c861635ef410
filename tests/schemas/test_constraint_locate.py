"""Locating a construct the backend cannot compile, with a stand-in for the backend (it
refuses any grammar holding `maximum`), and reading constraint pointers as pointers into
the user's schema."""

import json
import time

from schemas.constraint_locate import failing_construct, user_pointer
from schemas.record_schema import RecordSchema


def refuses_maximum(grammar: dict) -> bool:
    return '"maximum"' not in json.dumps(grammar)


def locate(document: dict) -> tuple[str, str | None]:
    return failing_construct(document, compiles=refuses_maximum, deadline=time.monotonic() + 30)


def test_the_deepest_failing_subschema_and_its_keyword_are_found():
    document = {"type": "object", "properties": {"a": {"type": "string"}, "b/c": {"type": "object", "properties": {
        "n": {"type": "integer", "minimum": 0, "maximum": 9}}}}}
    assert locate(document) == ("/properties/b~1c/properties/n", "maximum")


def test_a_reference_is_followed_to_its_definition():
    document = {"type": "object", "properties": {"a": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"type": "number", "maximum": 1}}}
    assert locate(document) == ("/$defs/n", "maximum")


def test_a_failure_no_one_keyword_causes_is_located_without_a_keyword():
    assert locate({"anyOf": [{"type": "string"}, {"type": "integer", "maximum": 3}]}) == ("/anyOf/1", "maximum")
    assert locate({"type": "integer", "maximum": 3, "minimum": 0}) == ("", "maximum")
    assert failing_construct({"type": "integer"}, compiles=lambda grammar: False, deadline=time.monotonic() + 30) == ("", None)


def test_constraint_pointers_read_as_pointers_into_the_users_schema():
    record = RecordSchema(json_schema={"type": "object", "properties": {"a": {"$ref": "#/definitions/a~1b"}},
                                       "definitions": {"a/b": {"type": "integer"}}}, source="inline")
    name = next(iter(record.grammar.bundled.defs))
    assert user_pointer("/properties/arguments/properties/a", record) == "/properties/a"
    assert user_pointer(f"/$defs/{name}/minimum", record) == "/definitions/a~1b/minimum"
    wrapped = RecordSchema(json_schema={"type": "array", "items": {"type": "integer"}}, source="inline")
    assert user_pointer("/properties/arguments/properties/value/items", wrapped) == "/items"



def test_a_draft_04_schema_with_a_boolean_subschema_is_located():
    """referencing's pointer lookup fails on draft-04's `additionalProperties: false` (it
    reads the boolean as a schema); the search walks past it and names the construct."""
    document = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "additionalProperties": False,
                "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}}
    assert locate(document) == ("/properties/n", "maximum")
