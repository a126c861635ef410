"""JSON pointers (RFC 6901) into schema documents: building them, following them, and
finding one that goes too deep. The one place pointers are escaped: the `jsonpointer`
library does it."""

from typing import Any

from jsonpointer import EndOfList, JsonPointerException, escape, resolve_pointer
from jsonpointer import unescape as _unescape


def pointer_to(parent: str, *parts: str | int) -> str:
    """`parent` extended by `parts`, each escaped as RFC 6901 says (`~` and `/`)."""
    return parent + "".join("/" + escape(str(p)) for p in parts)


def unescape(token: str) -> str:
    """One reference token of a pointer as the key it names (`~1` is `/`, `~0` is `~`)."""
    return _unescape(token)


def value_at(document: Any, pointer: str) -> Any:
    """What `pointer` names in `document`, or None where it names nothing."""
    try:
        node = resolve_pointer(document, pointer, None)
    except JsonPointerException:  # not a pointer (an invalid escape, no leading `/`)
        return None
    return None if isinstance(node, EndOfList) else node


def nested_beyond(document: Any, levels: int) -> str | None:
    """The pointer of a container nested more than `levels` containers deep, if any
    (vLLM's own measure of a schema's depth)."""
    level = [("", document)]
    for _ in range(levels):
        level = [(pointer_to(p, k), v) for p, node in level for k, v in (node.items() if isinstance(node, dict) else enumerate(node))
                 if isinstance(v, (dict, list))]
        if not level:
            return None
    return level[0][0] if isinstance(document, (dict, list)) else None
