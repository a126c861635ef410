"""JSON pointers (RFC 6901) into schema documents: building them, following them, and
finding one that goes too deep."""

from typing import Any


def pointer_to(parent: str, *parts: str | int) -> str:
    """`parent` extended by `parts`, each escaped as RFC 6901 says (`~` and `/`)."""
    return parent + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def value_at(document: Any, pointer: str) -> Any:
    """What `pointer` names in `document`, or None where it names nothing."""
    node = document
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


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
