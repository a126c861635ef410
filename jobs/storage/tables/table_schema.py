"""A table's columns and properties, from the schemas the writer writes
(operators/write_parquet.py): the same columns, with JSON columns as plain strings (their
JSON-ness recorded in the `k2batch.json_columns` property) and enums as plain strings
(neither Iceberg nor Delta has a JSON or a dictionary type), and the provenance that the
Parquet files carry as metadata (`k2batch.*`) as table properties.

An existing table must hold every column the job writes, with the same type (a required
column may be written by a job whose column is optional only if the table's is optional
too): else the run is refused before any engine starts, naming the column."""

import json

import pyarrow as pa

from operators.write_parquet import plain_schema  # noqa: F401 - the schema a table stores, as the writer writes it

JSON_COLUMNS = "k2batch.json_columns"  # table property: the dotted paths of the columns that hold JSON text


def json_columns(schema: pa.Schema) -> list[str]:
    """The dotted paths of `schema`'s JSON columns (`element` in a list, `value` in a map)."""
    found = []

    def walk(path: str, arrow_type: pa.DataType) -> None:
        if isinstance(arrow_type, pa.JsonType):
            found.append(path)
        elif pa.types.is_struct(arrow_type):
            for child in arrow_type:
                walk(f"{path}.{child.name}", child.type)
        elif pa.types.is_map(arrow_type):
            walk(f"{path}.value", arrow_type.item_type)
        elif pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
            walk(f"{path}.element", arrow_type.value_type)

    for field in schema:
        walk(field.name, field.type)
    return found


def table_properties(schema: pa.Schema) -> dict[str, str]:
    """The provenance (`k2batch.*` metadata) and the JSON columns of a kind's schema."""
    metadata = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items() if k.startswith(b"k2batch.")}
    return {**metadata, JSON_COLUMNS: json.dumps(json_columns(schema))}


def _same(arrow_type: pa.DataType) -> pa.DataType:
    """Types a table format reads back differently but stores alike."""
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type):
        return pa.binary()
    return arrow_type


def incompatibility(written: pa.Schema, table: pa.Schema) -> str | None:
    """Why files of schema `written` cannot join a table of schema `table`, naming the
    first column that does not fit; None if they fit."""
    have = {f.name: f for f in table}
    for field in written:
        if field.name not in have:
            return f"it has no column {field.name} ({field.type}), which the job writes"
        problem = _field_problem(field.name, field, have[field.name])
        if problem:
            return problem
    return None


def _field_problem(path: str, written: pa.Field, table: pa.Field) -> str | None:
    if written.nullable and not table.nullable:
        return f"its column {path} is required, and the job may write nulls there"
    wtype, ttype = _same(written.type), _same(table.type)
    if pa.types.is_struct(wtype) and pa.types.is_struct(ttype):
        inner = pa.schema(list(ttype))
        for child in wtype:
            if child.name not in inner.names:
                return f"its column {path} has no field {child.name} ({child.type}), which the job writes"
            if problem := _field_problem(f"{path}.{child.name}", child, inner.field(child.name)):
                return problem
        return None
    for is_kind, part in ((pa.types.is_map, lambda t: (t.item_field,)),
                          (lambda t: pa.types.is_list(t) or pa.types.is_large_list(t), lambda t: (t.value_field,))):
        if is_kind(wtype) and is_kind(ttype):
            (w,), (t,) = part(wtype), part(ttype)
            return _field_problem(f"{path}.{'value' if pa.types.is_map(wtype) else 'element'}", w, t)
    if wtype != ttype:
        return f"its column {path} is {ttype}, and the job writes {wtype}"
    return None
