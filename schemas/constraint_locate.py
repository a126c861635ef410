"""Where in a user's schema a constraint the backend cannot compile goes wrong: the
deepest subschema whose grammar fails (references followed) and the keyword without
which it compiles; and a pointer into the tool-call constraint read as a pointer into
the user's schema."""

import copy
import re
import time
from collections.abc import Callable
from typing import Any

from schemas.grammar_schema import grammar_schema
from schemas.json_pointer import pointer_to, unescape, value_at
from schemas.record_schema import RecordSchema
from schemas.schema_error import UnsupportedSchemaError
from schemas.subschemas import SUBSCHEMA_KEYWORDS, subschemas

Compiles = Callable[[Any], bool]  # whether the backend compiles a grammar document


def failing_construct(document: Any, *, compiles: Compiles, deadline: float) -> tuple[str, str | None]:
    """The pointer of the deepest subschema of `document` whose grammar does not compile
    (references followed), and the keyword of it without which it compiles, if one is;
    the search stops at `deadline` (`time.monotonic()`) with what it found so far."""
    pointer, seen = "", {""}
    while time.monotonic() < deadline:
        for child in _children(value_at(document, pointer), pointer):
            if child not in seen and time.monotonic() < deadline:
                seen.add(child)
                if _fails(document, child, compiles):
                    pointer = child
                    break
        else:
            break
    node = value_at(document, pointer)
    if isinstance(node, dict):
        for key in node:
            if time.monotonic() >= deadline:
                break
            if key not in SUBSCHEMA_KEYWORDS and not _fails(_without(document, pointer, key), pointer, compiles):
                return pointer, key
    return pointer, None


def user_pointer(pointer: str, record_schema: RecordSchema) -> str:
    """A pointer into the constraint as a pointer into the user's schema (where the two
    keep the same structure: the arguments' root, or a bundled definition's origin)."""
    arguments = "/properties/arguments" + ("/properties/value" if record_schema.wrapped else "")
    if pointer.startswith(arguments):
        return pointer[len(arguments):]
    match = re.match(r"^/\$defs/([^/]+)(.*)$", pointer)
    if match:
        origin = record_schema.grammar.bundled.origins.get(unescape(match.group(1)))
        return (origin or "") + match.group(2)
    return pointer


def _fails(document: Any, pointer: str, compiles: Compiles) -> bool:
    try:
        grammar = grammar_schema(document, entry=pointer)
    except UnsupportedSchemaError:
        return False
    return not compiles(grammar.document())


def _children(node: Any, pointer: str) -> list[str]:
    """The pointers of `node`'s direct subschemas and of what its `$ref` names, in the
    node's key order: the first one that fails is where the search goes on."""
    if not isinstance(node, dict):
        return []
    children = []
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
            children.append(value[1:])
        else:
            children += [child for child, _ in subschemas(key, value, pointer_to(pointer, key))]
    return children


def _without(document: Any, pointer: str, key: str) -> Any:
    trimmed = copy.deepcopy(document)
    node = value_at(trimmed, pointer)
    if isinstance(node, dict):
        node.pop(key, None)
    return trimmed
