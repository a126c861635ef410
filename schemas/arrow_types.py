"""Map a record's JSON Schema to an Arrow schema, once, so writers never infer
column types from the first batch they happen to see."""

from typing import Any

import pyarrow as pa

_SCALARS = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}


class UnsupportedSchemaError(ValueError):
    """The JSON Schema uses a construct that has no Arrow column type."""


def arrow_schema(json_schema: dict[str, Any]) -> pa.Schema:
    """One Arrow field per top-level property of an object schema, in schema order."""
    root = _resolve(json_schema, json_schema)
    if root.get("type") != "object" or "properties" not in root:
        raise UnsupportedSchemaError("a record schema must be an object with properties")
    return pa.schema(_struct_fields(root, json_schema, path=""))


def _struct_fields(node: dict, root: dict, path: str) -> list[pa.Field]:
    required = set(node.get("required", []))
    fields = []
    for name, sub in node["properties"].items():
        arrow_type, nullable = _arrow_type(sub, root, f"{path}{name}")
        fields.append(pa.field(name, arrow_type, nullable=nullable or name not in required))
    return fields


def _arrow_type(node: dict, root: dict, path: str) -> tuple[pa.DataType, bool]:
    """The Arrow type of one schema node and whether null is an allowed value."""
    node = _resolve(node, root)
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        non_null = [v for v in variants if _resolve(v, root).get("type") != "null"]
        if len(non_null) != 1:
            raise UnsupportedSchemaError(
                f"field '{path}': a union of several types has no single Arrow type; "
                "use one type (or one type plus null)"
            )
        arrow_type, _ = _arrow_type(non_null[0], root, path)
        return arrow_type, len(non_null) < len(variants)

    json_type = node.get("type")
    nullable = False
    if isinstance(json_type, list):
        nullable = "null" in json_type
        non_null_types = [t for t in json_type if t != "null"]
        if len(non_null_types) != 1:
            raise UnsupportedSchemaError(f"field '{path}': type {json_type} has no single Arrow type")
        json_type = non_null_types[0]
    if json_type is None and "enum" in node:
        json_type = _enum_type(node["enum"], path)
    if json_type is None and "const" in node:
        json_type = _enum_type([node["const"]], path)

    if "enum" in node and json_type == "string":
        # Enums repeat a few values over many rows: dictionary encoding is what
        # pandas reads back as a categorical.
        return pa.dictionary(pa.int32(), pa.string()), nullable
    if json_type in _SCALARS:
        return _SCALARS[json_type], nullable
    if json_type == "array":
        items = node.get("items")
        if not isinstance(items, dict):
            raise UnsupportedSchemaError(f"field '{path}': an array needs one 'items' schema")
        item_type, _ = _arrow_type(items, root, f"{path}[]")
        return pa.list_(item_type), nullable
    if json_type == "object":
        if node.get("properties"):
            return pa.struct(_struct_fields(node, root, f"{path}.")), nullable
        # A free-form object has no fixed columns: keep it as JSON text.
        return pa.string(), nullable
    raise UnsupportedSchemaError(f"field '{path}': unsupported JSON Schema type {json_type!r}")


def _enum_type(values: list, path: str) -> str:
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        return "string"
    if kinds <= {int}:
        return "integer"
    if kinds <= {int, float}:
        return "number"
    if kinds <= {bool}:
        return "boolean"
    raise UnsupportedSchemaError(f"field '{path}': an enum of mixed types {sorted(k.__name__ for k in kinds)}")


def _resolve(node: dict, root: dict) -> dict:
    """Follow local `$ref`s (`#/$defs/Name`), as pydantic emits them."""
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            raise UnsupportedSchemaError(f"unsupported or recursive $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def to_arrow_value(value: Any, arrow_type: pa.DataType) -> Any:
    """Shape a validated JSON value for `arrow_type`: free-form objects become JSON text."""
    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        return {f.name: to_arrow_value(value.get(f.name), f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type):
        return [to_arrow_value(v, arrow_type.value_type) for v in value]
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)
    return value


def without_dictionaries(arrow_type: pa.DataType) -> pa.DataType:
    """`arrow_type` with every dictionary (enum) replaced by its value type.

    Rows are built as plain values and then cast to the dictionary types: pyarrow's
    `from_pylist` gives a null struct's dictionary child an index into an empty
    dictionary, an invalid array that pandas and `validate(full=True)` refuse.
    """
    if pa.types.is_dictionary(arrow_type):
        return arrow_type.value_type
    if pa.types.is_struct(arrow_type):
        return pa.struct([f.with_type(without_dictionaries(f.type)) for f in arrow_type])
    if pa.types.is_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(without_dictionaries(arrow_type.value_type)))
    return arrow_type


def table_from_rows(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """A valid table of `schema` from row dicts, enums inside null structs included."""
    plain = pa.schema([f.with_type(without_dictionaries(f.type)) for f in schema], metadata=schema.metadata)
    return pa.Table.from_pylist(rows, schema=plain).cast(schema)
