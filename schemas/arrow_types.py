"""Map a record's JSON Schema to Arrow, once, so writers never infer column types from
the first batch they happen to see. The mapping is total: every schema maps.

It reads the backend's form of the schema (schemas/grammar_schema.py: references bundled,
allOf merged, objects closed), so a column type holds every value the constraint admits:
- one Arrow type where the node has one: string, int64, float64, bool; a string enum as
  dictionary<int32, string>; an array as list<T>; an object with properties as a struct;
  an object given only by `additionalProperties` / `patternProperties` whose values share
  one type as map<string, T>;
- the Arrow JSON extension type (`pa.json_()`, JSON text that DuckDB, Polars and pyarrow
  know is JSON) for every other node: unions of several types, fields with no type,
  free-form objects, tuples, mixed enums, and a reference back into itself (recursion).
A union with null is the other type, nullable; alternatives of one type are that type.
"""

from dataclasses import replace
from typing import Any

import pyarrow as pa

from schemas.grammar_schema import GrammarSchema, grammar_schema
from schemas.record_shape import Enum, Field, Json, ListOf, MapOf, Scalar, Shape, Struct, storage_type
from schemas.schema_error import UnsupportedSchemaError  # noqa: F401 - where callers import it from

VALUE_COLUMN = "value"  # the one column of a record whose schema's root is not an object with properties
MAX_NODES = 10_000  # schema nodes one mapping expands: more columns than anyone reads


def arrow_schema(json_schema: Any) -> pa.Schema:
    """The record columns of a JSON Schema: one field per top-level property of an object
    root, in schema order; one `value` field for any other root."""
    return pa.schema([f.arrow_field() for f in record_columns(root_shape(grammar_schema(json_schema))).fields])


def record_columns(root: Shape) -> Struct:
    """The record's columns: the root's fields, or one required `value` column holding it."""
    if isinstance(root, Struct) and root.fields:
        return root
    return Struct(fields=(Field(VALUE_COLUMN, root, required=True),))


def root_shape(grammar: GrammarSchema) -> Shape:
    return _Mapping(grammar).shape(grammar.root, ())


_NULL = "null"  # an alternative that only allows null: it makes the union nullable


class _Mapping:
    """One schema's mapping. Definitions expand where they are referenced, so a schema of
    shared definitions (Kubernetes') could expand without end: past MAX_NODES schema
    nodes, a reference not yet expanded is a JSON column."""

    def __init__(self, grammar: GrammarSchema):
        self.grammar = grammar
        self.nodes = 0

    def shape(self, node: Any, seen: tuple[str, ...]) -> Shape:
        self.nodes += 1
        if not isinstance(node, dict) or not node:
            return Json(nullable=True)
        target, name = self.grammar.resolve(node)
        if name is not None:
            if name in seen or self.nodes > MAX_NODES:  # a reference back into itself, or past the budget
                return Json(nullable=True)
            return self.shape(target, (*seen, name))
        if isinstance(node.get("anyOf"), list):
            return _union([self.alternative(branch, seen) for branch in node["anyOf"]])
        if "enum" in node or "const" in node:
            return _enum(node["enum"] if "enum" in node else [node["const"]])
        declared = node.get("type")
        types = [declared] if isinstance(declared, str) else list(declared) if isinstance(declared, list) else []
        if len(types) > 1:
            return _union([self.alternative({**node, "type": t}, seen) for t in types])
        kind = types[0] if types else None
        if kind in ("string", "integer", "number", "boolean"):
            return Scalar(kind=kind)
        if kind == "array":
            if "prefixItems" in node or not isinstance(node.get("items"), dict):
                return Json()  # a tuple: positions of different types
            return ListOf(item=self.shape(node["items"], seen))
        if kind == "object":
            return self.object(node, seen)
        return Json(nullable=True)  # null alone, or no type: any JSON value

    def alternative(self, node: Any, seen: tuple[str, ...]) -> Shape | str:
        target, _ = self.grammar.resolve(node) if isinstance(node, dict) else (node, None)
        if isinstance(target, dict) and (target.get("type") == "null" or target.get("enum") == [None]
                                         or ("const" in target and target["const"] is None)):
            return _NULL
        return self.shape(node, seen)

    def object(self, node: dict[str, Any], seen: tuple[str, ...]) -> Shape:
        properties = node.get("properties") or {}
        if properties:
            required = set(node.get("required", []))
            return Struct(fields=tuple(Field(name, self.shape(sub, seen), name in required) for name, sub in properties.items()))
        values = [s for s in (node.get("patternProperties") or {}).values()]
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            values.append(extra)
        if not values:
            return Json()  # free-form: keys and values are data
        value = _union([self.alternative(v, seen) for v in values])
        return Json() if isinstance(value, Json) else MapOf(value=value)


def _enum(values: list) -> Shape:
    nullable = None in values
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return Json(nullable=True)
    if kinds == {str}:
        return Enum(nullable=nullable)
    for scalar, allowed in (("boolean", {bool}), ("integer", {int}), ("number", {int, float})):
        if kinds <= allowed:
            return Scalar(kind=scalar, nullable=nullable)
    return Json(nullable=True)


def _union(alternatives: list[Shape | str]) -> Shape:
    """One shape for alternatives: a `null` alternative makes the others nullable; the
    rest must agree on one column type (a string enum and a string agree on string),
    else the union is JSON."""
    typed = [a for a in alternatives if a != _NULL]
    nullable = len(typed) < len(alternatives) or any(s.nullable for s in typed)
    if not typed or any(isinstance(s, Json) for s in typed):
        return Json(nullable=True)
    if all(s.key() == typed[0].key() for s in typed):
        return replace(_unify(typed), nullable=nullable)
    if all(isinstance(s, Enum) or s.key() == ("Scalar", "string") for s in typed):
        return Scalar(kind="string", nullable=nullable)
    return Json(nullable=True)


def _unify(shapes: list[Shape]) -> Shape:
    """Shapes of one column type as one: a struct's field is required only if every
    alternative requires it; nested shapes unify the same way."""
    first = shapes[0]
    if isinstance(first, Struct):
        fields = []
        for i, f in enumerate(first.fields):
            options = [s.fields[i] for s in shapes]
            fields.append(Field(f.name, _union([o.shape for o in options]), all(o.required for o in options)))
        return Struct(fields=tuple(fields))
    if isinstance(first, ListOf):
        return ListOf(item=_union([s.item for s in shapes]))
    if isinstance(first, MapOf):
        return MapOf(value=_union([s.value for s in shapes]))
    return first


def table_from_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """A valid table of `schema` from rows shaped by `Shape.to_arrow` (enums inside null
    structs and JSON columns included)."""
    plain = pa.schema([f.with_type(storage_type(f.type)) for f in schema], metadata=schema.metadata)
    return pa.Table.from_pylist(rows, schema=plain).cast(schema)
