"""An allOf of two schemas as one schema (schemas/schema_merge.py): where it can say it,
the merged schema accepts exactly the values both parts accept; where no value can meet
both, it is False."""

import pytest
from jsonschema import Draft202012Validator

from schemas.schema_merge import MAX_CROSS_PRODUCT, exclusive_bounds, json_type, merge, type_intersection

VALUES = [None, True, False, 0, 1, 2, 5, 7, 10, -3, 2.5, "", "a", "b", "ab", "abcdef", [], [1], [1, "x"], ["a", "b", "c"],
          {}, {"a": 1}, {"a": "x"}, {"b": 2}, {"a": 1, "b": 2}, {"a": "x", "b": "y"}]

PAIRS = {
    "number-and-integer": ({"type": "number"}, {"type": "integer"}),
    "nullable-and-string": ({"type": ["string", "null"]}, {"type": "string"}),
    "bounds": ({"type": "integer", "minimum": 0, "maximum": 7}, {"minimum": 2, "maximum": 10}),
    "lengths": ({"type": "string", "maxLength": 5}, {"minLength": 1, "maxLength": 2}),
    "enums": ({"enum": ["a", "b", 1]}, {"enum": ["b", 1, None]}),
    "const-in-enum": ({"const": "a"}, {"enum": ["a", "b"]}),
    "properties": ({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                   {"type": "object", "properties": {"a": {"minimum": 1}, "b": {"type": "integer"}}}),
    "required": ({"type": "object", "required": ["a"]}, {"type": "object", "required": ["b", "a"]}),
    "items": ({"type": "array", "items": {"type": ["integer", "string"]}}, {"items": {"type": "integer"}, "maxItems": 1}),
    "alternatives": ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"anyOf": [{"minimum": 2}, {"maxLength": 1}]}),
}


def accepted(schema) -> list:
    return [v for v in VALUES if Draft202012Validator(schema).is_valid(v)]


@pytest.mark.parametrize("pair", list(PAIRS.values()), ids=list(PAIRS))
def test_the_merge_accepts_what_both_parts_accept(pair):
    a, b = pair
    merged = merge(a, b)
    assert merged is not False
    assert accepted(merged) == accepted({"allOf": [a, b]}), merged
    assert accepted(merged), "the pool holds values of the merge: the comparison says something"


CONFLICTS = {
    "types": ({"type": "string"}, {"type": "integer"}),
    "enums": ({"enum": ["a", "b"]}, {"enum": ["c"]}),
    "consts": ({"const": "a"}, {"const": "b"}),
    "false": ({"type": "string"}, False),
}


@pytest.mark.parametrize("pair", list(CONFLICTS.values()), ids=list(CONFLICTS))
def test_parts_no_value_meets_merge_to_false(pair):
    a, b = pair
    assert merge(a, b) is False and merge(b, a) is False
    assert accepted({"allOf": [a, b]}) == []


def test_a_conflict_inside_a_property_is_left_to_that_property():
    """Its object is unsatisfiable only if the property is required: the grammar's walk decides."""
    merged = merge({"properties": {"a": {"type": "string"}}}, {"properties": {"a": {"type": "integer"}}})
    assert merged == {"properties": {"a": {"allOf": [{"type": "string"}, {"type": "integer"}]}}}


def test_annotations_of_the_first_part_win_and_never_conflict():
    assert merge({"title": "A", "type": "string"}, {"title": "B", "description": "d"}) == \
        {"title": "A", "type": "string", "description": "d"}


def test_too_many_alternatives_keep_the_first_parts_a_looser_schema():
    many = [{"const": i} for i in range(MAX_CROSS_PRODUCT + 1)]
    merged = merge({"anyOf": many}, {"anyOf": [{"minimum": 3}, {"maximum": 1}]})
    assert merged["anyOf"] == many
    assert set(map(str, accepted({"allOf": [{"anyOf": many}, {"anyOf": [{"minimum": 3}, {"maximum": 1}]}]}))) <= \
        set(map(str, accepted(merged))), "looser, never stricter: validation still checks the user's schema"


@pytest.mark.parametrize(("a", "b", "both"), [
    ("number", "integer", ["integer"]), ("integer", "number", ["integer"]), (["string", "null"], "null", ["null"]),
    ("string", ["integer", "boolean"], []), (None, "string", ["string"]),
])
def test_type_intersection(a, b, both):
    assert type_intersection(a, b) == both


@pytest.mark.parametrize(("value", "kind"), [(None, "null"), (True, "boolean"), (3, "integer"), (3.0, "integer"), (2.5, "number"),
                                            ("x", "string"), ([1], "array"), ({"a": 1}, "object")])
def test_json_type_is_the_json_schema_type(value, kind):
    assert json_type(value) == kind
    assert Draft202012Validator({"type": kind}).is_valid(value)


def test_draft_04_exclusive_bounds_take_their_later_form():
    assert exclusive_bounds({"minimum": 1, "exclusiveMinimum": True, "maximum": 5, "exclusiveMaximum": False}) == \
        {"exclusiveMinimum": 1, "maximum": 5}
    assert exclusive_bounds({"exclusiveMinimum": 2}) == {"exclusiveMinimum": 2}, "already the later form"
