"""Property tests of the mapping over generated schemas: every schema maps, and a value
valid under it (drawn from what the decoder is held to) is accepted by the compiled
constraint, passes validation, and comes back from Parquet as the same JSON value."""

import io
import json
import math

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, given, reject, settings
from hypothesis import strategies as st

from schemas.arrow_types import table_from_rows
from schemas.record_schema import RecordSchema
from schemas.record_shape import Json, ListOf, MapOf, Shape, Struct
from schemas.schema_error import UnsupportedSchemaError
from schemas.tool_call import tool_call_json_schema

FORMATS = {"date": "2024-02-29", "date-time": "2024-01-02T03:04:05Z", "email": "a@b.co", "uuid": "123e4567-e89b-12d3-a456-426614174000",
           "ipv4": "10.0.0.1", "time": "10:20:30Z"}
NAMES = st.text("abcxyz_", min_size=1, max_size=5)
TEXT = st.text("abc xyzé東-", max_size=6)

LEAVES = st.one_of(
    st.just({"type": "string"}), st.integers(1, 6).map(lambda n: {"type": "string", "maxLength": n}),
    st.sampled_from([{"type": "string", "format": f} for f in FORMATS]),
    st.just({"type": "integer"}), st.just({"type": "integer", "minimum": -5, "maximum": 5}), st.just({"type": "number"}),
    st.just({"type": "boolean"}), st.just({"type": "null"}), st.just({}), st.just(True),
    st.lists(TEXT.filter(bool), min_size=1, max_size=4, unique=True).map(lambda v: {"enum": v}),
    st.just({"enum": ["a", 1, None]}), st.just({"const": "fixed"}), st.just({"type": ["string", "null"]}),
    st.just({"type": ["string", "integer"]}), st.just({"minLength": 1}), st.just({"type": "object"}),
)


def _object(children):
    return st.dictionaries(NAMES, children, min_size=1, max_size=4).flatmap(
        lambda props: st.sets(st.sampled_from(sorted(props))).map(
            lambda required: {"type": "object", "properties": props, "required": sorted(required)}))


def _compound(children):
    return st.one_of(
        children.map(lambda c: {"type": "array", "items": c, "maxItems": 3}),
        st.lists(children, min_size=1, max_size=3).map(lambda cs: {"type": "array", "prefixItems": cs, "items": False}),
        _object(children),
        children.map(lambda c: {"type": "object", "additionalProperties": c, "maxProperties": 3}),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: {"anyOf": cs}),
        st.lists(children, min_size=1, max_size=3).map(lambda cs: {"oneOf": cs}),
        st.tuples(_object(children), _object(children)).map(lambda parts: {"allOf": list(parts)}),
        st.tuples(_object(children), st.sets(NAMES, min_size=1, max_size=2)).map(
            lambda t: {**t[0], "anyOf": [{"required": [n]} for n in sorted(t[1] & set(t[0]["properties"]))] or [{}]}),
    )


SCHEMAS = st.recursive(LEAVES, _compound, max_leaves=8)


@st.composite
def documents(draw) -> dict:
    """A schema as a user brings it: inline, behind draft-07 definitions, behind $defs, or recursive."""
    schema = draw(SCHEMAS)
    shape = draw(st.sampled_from(["inline", "definitions", "defs", "recursive"]))
    if shape == "definitions":
        return {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"main": schema}, "$ref": "#/definitions/main"}
    if shape == "defs":
        return {"$defs": {"main": schema}, "type": "object", "properties": {"item": {"$ref": "#/$defs/main"}}}
    if shape == "recursive":
        return {"type": "object", "properties": {"item": schema, "next": {"$ref": "#"}}, "required": ["item"]}
    return schema if isinstance(schema, dict) else {"anyOf": [schema]}


def draw_value(draw, node, grammar, depth: int = 0):
    """A value of the decoder's schema (schemas/grammar_schema.py): closed objects, no allOf."""
    node, _ = grammar.resolve(node) if isinstance(node, dict) else (node, None)
    if not isinstance(node, dict) or not node:
        return draw(st.one_of(st.none(), st.integers(-3, 3), TEXT, st.lists(st.integers(0, 3), max_size=2)))
    if "anyOf" in node:
        return draw_value(draw, draw(st.sampled_from(node["anyOf"])), grammar, depth + 1)
    if "enum" in node or "const" in node:
        return draw(st.sampled_from(node["enum"] if "enum" in node else [node["const"]]))
    types = node.get("type")
    kind = draw(st.sampled_from(types)) if isinstance(types, list) else types
    if kind == "null":
        return None
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "integer":
        return draw(st.integers(node.get("minimum", -1000), node.get("maximum", 1000)))
    if kind == "number":
        return draw(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f != 0 or math.copysign(1, f) > 0))
    if kind == "string":
        if "format" in node:
            return FORMATS[node["format"]]
        return draw(st.text("abc xyzé東-", min_size=node.get("minLength", 0), max_size=node.get("maxLength", 6)))
    if kind == "array":
        prefix = [draw_value(draw, item, grammar, depth + 1) for item in node.get("prefixItems", [])]
        if "items" not in node:
            return prefix
        more = draw(st.integers(0, min(node.get("maxItems", 3), 3 if depth < 4 else 0)))
        return prefix + [draw_value(draw, node["items"], grammar, depth + 1) for _ in range(more)]
    if kind == "object":
        if "properties" in node:  # closed: only these keys
            required = set(node.get("required", []))
            return {name: draw_value(draw, sub, grammar, depth + 1) for name, sub in node["properties"].items()
                    if name in required or (depth < 3 and draw(st.booleans()))}
        values = node.get("additionalProperties")
        keys = draw(st.lists(NAMES, max_size=min(node.get("maxProperties", 3), 3 if depth < 4 else 0), unique=True))
        return {k: draw_value(draw, values if isinstance(values, dict) else {}, grammar, depth + 1) for k in keys}
    return draw(TEXT)


def stored_form(value, shape: Shape):
    """`value` as a typed column keeps it: a null in an optional typed field reads back absent."""
    if isinstance(shape, Struct) and isinstance(value, dict):
        fields = {f.name: f for f in shape.fields}
        return {k: stored_form(v, fields[k].shape) for k, v in value.items()
                if not (v is None and not fields[k].required and not isinstance(fields[k].shape, Json))}
    if isinstance(shape, ListOf) and isinstance(value, list):
        return [stored_form(v, shape.item) for v in value]
    if isinstance(shape, MapOf) and isinstance(value, dict):
        return {k: stored_form(v, shape.value) for k, v in value.items()}
    return value


def same_json(a, b) -> bool:
    """Equal as JSON values: numbers by value (3 == 3.0), booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def without_all_of(schema, part: int):
    """`schema` with each allOf replaced by its first (`part` 0) or last (-1) part: a wider
    schema, and one that nothing generated here can make unsatisfiable."""
    if isinstance(schema, list):
        return [without_all_of(s, part) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "allOf" in schema:
        chosen, rest = schema["allOf"][part], {k: v for k, v in schema.items() if k != "allOf"}
        return without_all_of({**chosen, **rest} if isinstance(chosen, dict) else rest, part)
    return {k: without_all_of(v, part) for k, v in schema.items()}


def deep_merge(a, b):
    """Two values as one: objects key by key (`a` first), anything else `a`."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {**b, **{k: deep_merge(v, b[k]) if k in b else v for k, v in a.items()}}
    return a


def assert_rightly_refused(document: dict, refused: UnsupportedSchemaError, draw) -> None:
    """The one refusal a generated schema may get is "no value satisfies it", which only an
    allOf of conflicting parts can cause. Checked, not trusted: the schema with only the
    first (or last) part of each allOf maps, and no value built from theirs (as the decoder
    writes them, alone or merged key by key) is valid under the refused schema."""
    assert str(refused).startswith("/: no value satisfies this schema"), refused
    assert "allOf" in json.dumps(document), f"a schema without allOf was refused: {document}"
    first, last = (RecordSchema(json_schema=without_all_of(document, part), source="generated") for part in (0, -1))
    assert first.arrow_schema.names and last.arrow_schema.names, "each part alone maps"
    refused_schema = RecordSchema(json_schema=document, source="generated")
    for _ in range(5):
        a, b = (draw_value(draw, s.grammar.root, s.grammar) for s in (first, last))
        for value in (a, b, deep_merge(a, b), deep_merge(b, a)):
            assert not refused_schema._validator.is_valid(value), f"{value!r} satisfies the refused {document}"


@pytest.fixture(scope="module")
def accepts():
    """Whether the compiled tool-call constraint accepts a call, as the engine compiles it."""
    import xgrammar
    from xgrammar.testing import _is_grammar_accept_string

    def check(constraint: dict, text: str) -> bool:
        grammar = xgrammar.Grammar.from_json_schema(json.dumps(constraint), any_whitespace=False, separators=(",", ":"))
        return _is_grammar_accept_string(grammar, text)

    return check


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(document=documents(), data=st.data())
def test_every_schema_maps_and_its_values_round_trip(document, data, accepts):
    schema = RecordSchema(json_schema=document, source="generated")
    try:
        arrow_schema = schema.arrow_schema
    except UnsupportedSchemaError as refused:  # e.g. allOf of a string and an integer: nothing can be written
        assert_rightly_refused(document, refused, data.draw)
        reject()  # not a mappable schema (hypothesis fails the test if too many draws end here)
    value = draw_value(data.draw, schema.grammar.root, schema.grammar)
    assume(schema._validator.is_valid(value))  # oneOf's exclusivity and the like: the decoder's language is wider
    arguments = {"value": value} if schema.wrapped else value
    call = json.dumps({"name": "record", "arguments": arguments}, ensure_ascii=False, separators=(",", ":"))
    assert accepts(tool_call_json_schema(name="record", parameters=schema.constraint_parameters), call), call

    record, errors = schema.validate(arguments)
    assert errors is None, errors
    buffer = io.BytesIO()
    pq.write_table(table_from_rows([schema.to_arrow_row(record)], arrow_schema), buffer)
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    back = schema.from_arrow_row(table.to_pylist()[0])
    assert schema._validator.is_valid(back)
    column = schema.columns.fields[0].shape if schema.wrapped else schema.columns
    assert same_json(back, stored_form(value, column)), (value, back)


CONFLICT = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
FEW_NAMES = st.sampled_from(["a", "b", "c"])  # parts that often share a property


def _part(children):
    return st.dictionaries(FEW_NAMES, children, min_size=1, max_size=3).flatmap(
        lambda props: st.sets(st.sampled_from(sorted(props))).map(
            lambda required: {"type": "object", "properties": props, "required": sorted(required)}))


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(_part(st.one_of(LEAVES, _part(LEAVES))), min_size=2, max_size=3), data=st.data())
def test_an_allof_is_refused_only_when_its_parts_conflict(parts, data):
    """allOf is where a generated schema can have no value; here its parts share names often,
    so both outcomes come up. Refused: no value of the parts satisfies it; mapped: a value
    valid under the schema round-trips through its columns."""
    document = {"allOf": parts}
    schema = RecordSchema(json_schema=document, source="generated")
    try:
        arrow_schema = schema.arrow_schema
    except UnsupportedSchemaError as refused:
        event("refused")
        assert_rightly_refused(document, refused, data.draw)
    else:
        event("mapped")
        value = draw_value(data.draw, schema.grammar.root, schema.grammar)
        assume(schema._validator.is_valid(value))
        record, errors = schema.validate({"value": value} if schema.wrapped else value)
        assert errors is None, errors
        table = table_from_rows([schema.to_arrow_row(record)], arrow_schema)
        column = schema.columns.fields[0].shape if schema.wrapped else schema.columns
        assert same_json(schema.from_arrow_row(table.to_pylist()[0]), stored_form(value, column)), value


def test_a_conflicting_allof_is_refused():
    document = {"allOf": [CONFLICT, {"type": "object", "properties": {"a": {"type": "integer"}}}]}
    with pytest.raises(UnsupportedSchemaError, match="^/: no value satisfies this schema"):
        RecordSchema(json_schema=document, source="generated").arrow_schema


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_refusal_check_fails_a_mapper_that_refuses_a_satisfiable_schema(data):
    """What the property tests would say of a mapper that refused schemas a value satisfies."""
    refusal = UnsupportedSchemaError("", "no value satisfies this schema")
    for other in ({"type": "object", "properties": {"b": {"type": "integer"}}},  # a value of the first part will do
                  {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]}):  # only one of both
        document = {"allOf": [CONFLICT, other]}
        assert RecordSchema(json_schema=document, source="generated").arrow_schema.names == ["a", "b"]
        with pytest.raises(AssertionError, match="satisfies the refused"):
            assert_rightly_refused(document, refusal, data.draw)
    with pytest.raises(AssertionError, match="a schema without allOf was refused"):
        assert_rightly_refused(CONFLICT, refusal, data.draw)
