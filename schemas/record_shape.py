"""A record's shape as Arrow stores it: one node per column type the Arrow mapping
(schemas/arrow_types.py) derives. Each node gives its Arrow type, shapes a validated JSON
value for Arrow (refusing one that would not fit instead of losing part of it), and
reads an Arrow value back as the JSON value it was written from.

Null and absent: a JSON column tells them apart (a JSON `null` is the text `null`, an
absent value is an Arrow null); a typed column cannot, so a null in it reads back as
absent when the field is optional and as null when the field is required.
"""

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pyarrow as pa

INT64 = (-(2**63), 2**63 - 1)


# Where a value is: None for the record, else (where its parent is, its key or index).
# Built as pairs on the way down, spelled out only in an error: no string per field.
Where = tuple | None


class RecordShapeError(ValueError):
    """A value that does not fit its column, named dotted as in validation errors."""

    def __init__(self, where: Where, what: str):
        parts = []
        while where is not None:
            where, key = where
            parts.append(str(key))
        super().__init__(f"{'.'.join(reversed(parts)) or '<root>'}: {what}")


@dataclass(frozen=True)
class Shape:
    nullable: bool = False  # null is one of the values the schema allows here

    def arrow_type(self) -> pa.DataType:
        raise NotImplementedError

    def to_arrow(self, value: Any, where: Where) -> Any:
        """`value` (not None) as Arrow takes it for `arrow_type()`."""
        raise NotImplementedError

    def from_arrow(self, value: Any) -> Any:
        """The JSON value an Arrow value (not None) of `arrow_type()` was written from."""
        return value

    def cell(self, value: Any, where: Where) -> Any:
        """A present value, null included, as Arrow takes it."""
        return None if value is None else self.to_arrow(value, where)

    def key(self) -> tuple:
        """What two shapes must share to be one column type (nullability aside)."""
        return (type(self).__name__,)


@dataclass(frozen=True)
class Json(Shape):
    """A value with no single Arrow type: JSON text in the Arrow JSON extension type."""

    def arrow_type(self) -> pa.DataType:
        return pa.json_()

    def to_arrow(self, value: Any, where: Where) -> str:
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError as err:
            raise RecordShapeError(where, f"{value!r} is not JSON ({err})") from None

    def cell(self, value: Any, where: Where) -> str:
        return self.to_arrow(value, where)  # a JSON null is the text `null`: it stays apart from absent

    def from_arrow(self, value: Any) -> Any:
        return json.loads(value)


@dataclass(frozen=True)
class Scalar(Shape):
    kind: str = "string"  # string, integer, number, boolean

    def arrow_type(self) -> pa.DataType:
        return {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}[self.kind]

    def to_arrow(self, value: Any, where: Where) -> Any:
        kind = self.kind
        if kind == "string":
            if isinstance(value, str):
                return value
        elif kind == "boolean":
            if isinstance(value, bool):
                return value
        elif isinstance(value, bool):
            pass  # JSON's true is no number
        elif kind == "integer":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int):
                if not INT64[0] <= value <= INT64[1]:
                    raise RecordShapeError(where, f"{value} does not fit a 64-bit integer column")
                return value
        elif isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise RecordShapeError(where, f"{value!r} is not a finite number")
            return value
        raise RecordShapeError(where, f"{value!r} is not a {kind}")

    def key(self) -> tuple:
        return ("Scalar", self.kind)


@dataclass(frozen=True)
class Enum(Shape):
    """String values from a fixed set: dictionary-encoded, read by pandas as a categorical."""

    def arrow_type(self) -> pa.DataType:
        return pa.dictionary(pa.int32(), pa.string())

    def to_arrow(self, value: Any, where: Where) -> str:
        if not isinstance(value, str):
            raise RecordShapeError(where, f"{value!r} is not a string")
        return value


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape = Json()

    def arrow_type(self) -> pa.DataType:
        return pa.list_(self.item.arrow_type())

    def to_arrow(self, value: Any, where: Where) -> list:
        if not isinstance(value, list):
            raise RecordShapeError(where, f"{type(value).__name__} is not an array")
        return [self.item.cell(v, (where, i)) for i, v in enumerate(value)]

    def from_arrow(self, value: Any) -> list:
        return [None if v is None else self.item.from_arrow(v) for v in value]

    def key(self) -> tuple:
        return ("ListOf", self.item.key())


@dataclass(frozen=True)
class MapOf(Shape):
    """An object whose keys are data (`additionalProperties` alone): map<string, T>."""

    value: Shape = Json()

    def arrow_type(self) -> pa.DataType:
        return pa.map_(pa.string(), self.value.arrow_type())

    def to_arrow(self, value: Any, where: Where) -> list[tuple[str, Any]]:
        if not isinstance(value, dict):
            raise RecordShapeError(where, f"{type(value).__name__} is not an object")
        return [(k, self.value.cell(v, (where, k))) for k, v in value.items()]

    def from_arrow(self, value: Any) -> dict:
        return {k: None if v is None else self.value.from_arrow(v) for k, v in value}

    def key(self) -> tuple:
        return ("MapOf", self.value.key())


@dataclass(frozen=True)
class Field:
    name: str
    shape: Shape
    required: bool

    def arrow_field(self) -> pa.Field:
        return pa.field(self.name, self.shape.arrow_type(), nullable=self.shape.nullable or not self.required)


@dataclass(frozen=True)
class Struct(Shape):
    """An object with declared properties: one child per property, in schema order."""

    fields: tuple[Field, ...] = ()

    def arrow_type(self) -> pa.DataType:
        return pa.struct([f.arrow_field() for f in self.fields])

    def to_arrow(self, value: Any, where: Where) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise RecordShapeError(where, f"{type(value).__name__} is not an object")
        if not self.names.issuperset(value):
            unknown = [k for k in value if k not in self.names]
            raise RecordShapeError(where, f"keys {unknown} are not properties of the schema, so no column holds them")
        return {f.name: f.shape.cell(value[f.name], (where, f.name)) if f.name in value else None for f in self.fields}

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def from_arrow(self, value: Any) -> dict[str, Any]:
        out = {}
        for f in self.fields:
            cell = value.get(f.name)
            if cell is not None:
                out[f.name] = f.shape.from_arrow(cell)
            elif f.required:
                out[f.name] = None  # only a required field that allows null can be null here
        return out

    def key(self) -> tuple:
        return ("Struct", tuple((f.name, f.shape.key()) for f in self.fields))


def storage_type(arrow_type: pa.DataType) -> pa.DataType:
    """`arrow_type` with dictionaries as their values and JSON as its text: the type a
    table is built with from Python rows before it is cast to `arrow_type`. (pyarrow's
    `from_pylist` builds neither extension types nor, inside a null struct, a valid
    dictionary child: pandas and `validate(full=True)` refuse the latter.)"""
    if pa.types.is_dictionary(arrow_type):
        return arrow_type.value_type
    if isinstance(arrow_type, pa.BaseExtensionType):
        return arrow_type.storage_type
    if pa.types.is_struct(arrow_type):
        return pa.struct([f.with_type(storage_type(f.type)) for f in arrow_type])
    if pa.types.is_map(arrow_type):
        return pa.map_(arrow_type.key_type, arrow_type.item_field.with_type(storage_type(arrow_type.item_type)))
    if pa.types.is_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(storage_type(arrow_type.value_type)))
    return arrow_type
