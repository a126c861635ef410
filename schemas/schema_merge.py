"""Two JSON Schemas as one (an `allOf` of two, as far as one schema can say it), and the
facts about keywords it needs: which are annotations, which bound from below or above,
which type a JSON value has."""

import json
from typing import Any

ANNOTATIONS = ("title", "description", "default", "examples")
TYPES = ("null", "boolean", "object", "array", "number", "string", "integer")
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
MAX_CROSS_PRODUCT = 16  # anyOf x anyOf beyond this keeps the first anyOf only (a looser grammar, still validated)


def merge(a: dict[str, Any] | bool, b: dict[str, Any] | bool) -> dict[str, Any] | bool:
    """Both schemas at once, as far as one schema can say it (allOf of two)."""
    if a is False or b is False:
        return False
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if mine == value or key in ANNOTATIONS:
            continue
        if key == "type":
            both = type_intersection(mine, value)
            if not both:
                return False
            out[key] = both[0] if len(both) == 1 else both
        elif key == "properties" and isinstance(mine, dict) and isinstance(value, dict):
            out[key] = {**mine, **{n: {"allOf": [mine[n], s]} if n in mine else s for n, s in value.items()}}
        elif key == "required" and isinstance(mine, list) and isinstance(value, list):
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "enum" and isinstance(mine, list) and isinstance(value, list):
            out[key] = [v for v in mine if any(same(v, w) for w in value)]
            if not out[key]:
                return False
        elif key == "const":
            if not same(mine, value):
                return False
        elif key in LOWER_BOUNDS or key in UPPER_BOUNDS:
            if isinstance(mine, (int, float)) and isinstance(value, (int, float)):
                out[key] = max(mine, value) if key in LOWER_BOUNDS else min(mine, value)
        elif key == "anyOf" and isinstance(mine, list) and isinstance(value, list):
            if len(mine) * len(value) <= MAX_CROSS_PRODUCT:
                out[key] = [{"allOf": [x, y]} for x in mine for y in value]
        elif key in ("allOf", "prefixItems") and isinstance(mine, list) and isinstance(value, list):
            out[key] = [*mine, *value] if key == "allOf" else mine
        elif key == "$ref":
            out["allOf"] = [*out.get("allOf", []), {"$ref": value}]
        elif key in ("items", "additionalProperties", "propertyNames", "additionalItems"):
            out[key] = {"allOf": [mine, value]}
    return out


def type_intersection(a: Any, b: Any) -> list[str]:
    mine = [a] if isinstance(a, str) else list(a) if isinstance(a, list) else list(TYPES)
    theirs = {b} if isinstance(b, str) else set(b) if isinstance(b, list) else set(TYPES)
    both = [t for t in mine if t in theirs or (t == "integer" and "number" in theirs)]
    both += ["integer"] if "number" in mine and "integer" in theirs and "integer" not in both else []
    return both


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "null")


def exclusive_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """Draft-04's boolean exclusiveMinimum/exclusiveMaximum in their draft-06 form."""
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), bool):
            if schema.pop(bound) and limit in schema:
                schema[bound] = schema.pop(limit)
    return schema


def structural(schema: dict[str, Any], but: str) -> bool:
    return any(k != but and k not in ANNOTATIONS for k in schema)
