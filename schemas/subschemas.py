"""Which JSON Schema keywords hold subschemas, and the one walk over them: a keyword's
value holds one subschema, a list of them, or a map of names to them. Whoever walks a
schema generically (bundling references, locating a failing construct) asks here."""

from collections.abc import Callable, Iterator
from typing import Any

from schemas.json_pointer import pointer_to

# Keywords whose value is one subschema (or, for draft-07 `items`, a list of them).
ONE_SCHEMA = ("additionalProperties", "additionalItems", "items", "contains", "propertyNames", "not", "if", "then",
              "else", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "dependencies")
SUBSCHEMA_KEYWORDS = frozenset((*ONE_SCHEMA, *SCHEMA_LISTS, *SCHEMA_MAPS))


def subschemas(keyword: str, value: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    """Each subschema (an object or a boolean) that `value`, the value of `keyword` at
    `pointer`, holds, with its pointer; nothing for a keyword that holds none."""
    for part, schema in _parts(keyword, value):
        yield pointer_to(pointer, *part), schema


def with_subschemas(keyword: str, value: Any, pointer: str, rewrite: Callable[[Any, str], Any]) -> Any:
    """`value` (of `keyword`, at `pointer`) with each subschema it holds replaced by
    `rewrite(subschema, its pointer)`, in order; a list or map comes back as a new one."""
    holds = _holds(keyword, value)
    if holds is None:
        return value
    if holds == "one":
        return rewrite(value, pointer)
    out = list(value) if holds == "list" else dict(value)
    for (part,), schema in _parts(keyword, value):
        out[part] = rewrite(schema, pointer_to(pointer, part))
    return out


def _holds(keyword: str, value: Any) -> str | None:
    """What `value` is as the value of `keyword`: one subschema, a list or a map of them."""
    if keyword in ONE_SCHEMA and isinstance(value, (dict, bool)):
        return "one"
    if (keyword in SCHEMA_LISTS or keyword in ONE_SCHEMA) and isinstance(value, list):
        return "list"
    if keyword in SCHEMA_MAPS and isinstance(value, dict):
        return "map"
    return None


def _parts(keyword: str, value: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(where in `value`: () for `value` itself, else (index,) or (name,); the subschema)."""
    holds = _holds(keyword, value)
    if holds == "one":
        yield (), value
    elif holds is not None:
        # A list or map item that is no schema (`dependencies` also maps names to lists of
        # names) is data: left out.
        for part, item in enumerate(value) if holds == "list" else value.items():
            if isinstance(item, (dict, bool)):
                yield (part,), item
