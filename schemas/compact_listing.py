"""A compact form of the tool's parameters for the system prompt, for a schema whose full
listing leaves no room for input within the model's context.

The constraint (the grammar) holds the answer to the schema's structure whatever the
prompt says, so the listing need not carry everything: it only tells the model what to
write. The compact forms, each smaller than the one before:
- minified, each shared definition once (the bundled `$defs`, only those referenced),
  annotations other than descriptions and unknown keywords (titles, examples, defaults,
  comments, vendor extensions) left out; value assertions (bounds, patterns) kept;
- then the value assertions left out too (the grammar and validation still apply them);
- then descriptions left out innermost first: `form(descriptions=k)` keeps the first k in
  breadth-first order from the root, so the outermost are the last to go;
- the bare structure: types, properties, required, items, enums, consts, unions and
  references, nothing else;
- then an outline: the bare structure down to some depth below the root, a subschema at
  that depth cut to its type (the grammar still holds everything below it), the deepest
  levels the first to go; the smallest outline lists the top-level fields and their types.
`fit` picks the fullest form a caller's `fits` accepts. Pure: no tokenizer, no job.
"""

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.json_pointer import pointer_to
from schemas.subschemas import subschemas, with_subschemas

# What the bare structure keeps: the keywords that shape a JSON value.
STRUCTURE = frozenset(("type", "properties", "required", "items", "prefixItems", "additionalProperties",
                       "additionalItems", "patternProperties", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
                       "format", "nullable"))
# Kept until room runs short: what the grammar and validation enforce anyway.
ASSERTIONS = frozenset(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
                        "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
                        "contains", "minContains", "maxContains", "propertyNames", "dependentRequired",
                        "dependentSchemas", "dependencies", "if", "then", "else", "not", "unevaluatedItems",
                        "unevaluatedProperties"))
DEFS = "$defs"


@dataclass(frozen=True)
class Listing:
    """A form of the tool's parameters and, in words, what it leaves out of the full one."""

    parameters: Any
    left_out: str


class CompactListing:
    """The compact forms of one tool's `parameters` (a bundled document: references point
    into one top-level `$defs`)."""

    def __init__(self, parameters: Any):
        self.parameters = parameters
        self.description_pointers = _descriptions_outermost_first(parameters)

    @property
    def descriptions(self) -> int:
        return len(self.description_pointers)

    def form(self, *, descriptions: int, assertions: bool) -> Any:
        """The parameters with the first `descriptions` descriptions (outermost first) and,
        if `assertions`, the value assertions; structure always, nothing else."""
        kept = frozenset(self.description_pointers[:descriptions])
        keywords = STRUCTURE | ASSERTIONS if assertions else STRUCTURE
        if not isinstance(self.parameters, dict):
            return self.parameters
        root = _strip(self.parameters, "", keywords, kept)
        defs = self.parameters.get(DEFS)
        if isinstance(defs, dict):
            root[DEFS] = {name: _strip(node, pointer_to("", DEFS, name), keywords, kept) for name, node in defs.items()}
        return root

    def outline(self, depth: int) -> Any:
        """The bare structure down to `depth` levels of subschemas below the root (1: the
        top-level fields), a subschema at that depth cut to its type. A definition is
        outlined from the shallowest place that references it; one referenced only below
        the cut is left out."""
        if not isinstance(self.parameters, dict):
            return self.parameters
        defs = self.parameters.get(DEFS)
        defs = defs if isinstance(defs, dict) else {}
        referenced: dict[str, int] = {}  # definition -> the shallowest depth of a reference to it
        root = _outline(self.parameters, 0, depth, referenced)
        outlined: dict[str, tuple[int, Any]] = {}
        while pending := [(name, at) for name, at in referenced.items()
                          if name in defs and (name not in outlined or outlined[name][0] > at)]:
            for name, at in pending:
                outlined[name] = (at, _outline(defs[name], at, depth, referenced))
        if outlined:
            root[DEFS] = {name: outlined[name][1] for name in defs if name in outlined}
        return root

    @property
    def depth(self) -> int:
        """The deepest level of subschemas below the root, entering each definition where it
        is referenced (the outline one level deeper is the bare structure)."""
        defs = self.parameters.get(DEFS) if isinstance(self.parameters, dict) else None
        return _depth(self.parameters, defs if isinstance(defs, dict) else {}, {})

    def left_out(self, *, descriptions: int, assertions: bool) -> str:
        dropped = self.descriptions - descriptions
        parts = ["titles, examples, defaults and other annotations"]
        if not assertions:
            parts.append("value bounds and patterns (the constraint still applies them)")
        if dropped:
            parts.append(f"{dropped} of {self.descriptions} descriptions (innermost first)")
        return "; ".join(parts)


def fit(parameters: Any, fits: Callable[[Any], bool]) -> Listing | None:
    """The fullest compact form of `parameters` that `fits` accepts, or None when not even
    the outline of its top-level fields fits. `fits` is called O(log descriptions + log
    depth) times."""
    listing = CompactListing(parameters)
    every = listing.descriptions
    if fits(form := listing.form(descriptions=every, assertions=True)):
        return Listing(form, listing.left_out(descriptions=every, assertions=True))
    if not fits(listing.form(descriptions=0, assertions=False)):
        return _fit_outline(listing, fits)
    low, high = 0, every  # the form with `low` descriptions fits; find the most that do
    while low < high:
        middle = (low + high + 1) // 2
        if fits(listing.form(descriptions=middle, assertions=False)):
            low = middle
        else:
            high = middle - 1
    return Listing(listing.form(descriptions=low, assertions=False), listing.left_out(descriptions=low, assertions=False))


def _fit_outline(listing: CompactListing, fits: Callable[[Any], bool]) -> Listing | None:
    """The deepest outline that fits, or None when not even the top-level fields do."""
    if not fits(listing.outline(1)):
        return None
    low, high = 1, max(listing.depth, 1)  # the outline at `low` fits
    while low < high:
        middle = (low + high + 1) // 2
        if fits(listing.outline(middle)):
            low = middle
        else:
            high = middle - 1
    levels = "its top-level fields" if low == 1 else f"its first {low} levels"
    return Listing(listing.outline(low), f"every description and annotation; the structure below {levels} (each "
                                         "subschema there listed by its type alone; the constraint still holds all of it)")


def _outline(node: Any, depth: int, limit: int, referenced: dict[str, int]) -> Any:
    if not isinstance(node, dict):
        return node
    if depth >= limit:
        return {"type": node["type"]} if "type" in node else {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in STRUCTURE:
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
            name = value.removeprefix("#/$defs/")
            referenced[name] = min(referenced.get(name, depth), depth)
        out[key] = with_subschemas(key, value, "", lambda schema, _: _outline(schema, depth + 1, limit, referenced))
    return out


def _depth(node: Any, defs: dict, below: dict[str, int]) -> int:
    """Levels below `node`; `below`: each definition's, once known (0 while it is being
    measured: a recursive reference adds nothing)."""
    if not isinstance(node, dict):
        return 0
    deepest = 0
    if isinstance(ref := node.get("$ref"), str) and (name := ref.removeprefix("#/$defs/")) in defs:
        if name not in below:
            below[name] = 0
            below[name] = _depth(defs[name], defs, below)
        deepest = below[name]
    for key, value in node.items():
        if key != DEFS:
            for _, schema in subschemas(key, value, ""):
                deepest = max(deepest, 1 + _depth(schema, defs, below))
    return deepest


def _strip(node: Any, pointer: str, keywords: frozenset[str], descriptions: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        here = pointer_to(pointer, key)
        if key == "description" and pointer in descriptions and isinstance(value, str):
            out[key] = value
        elif key in keywords:
            out[key] = with_subschemas(key, value, here, lambda schema, at: _strip(schema, at, keywords, descriptions))
    return out


def _descriptions_outermost_first(parameters: Any) -> list[str]:
    """The pointers of the nodes that carry a description, breadth first from the root,
    entering a definition where it is first referenced (the rest after)."""
    defs = parameters.get(DEFS) if isinstance(parameters, dict) else None
    defs = defs if isinstance(defs, dict) else {}
    found: list[str] = []
    entered: set[str] = set()
    queue = deque([("", parameters)])

    def enter(name: str) -> None:
        if name in defs and name not in entered:
            entered.add(name)
            queue.append((pointer_to("", DEFS, name), defs[name]))

    while True:
        while queue:
            pointer, node = queue.popleft()
            if not isinstance(node, dict):
                continue
            if isinstance(node.get("description"), str):
                found.append(pointer)
            if isinstance(ref := node.get("$ref"), str) and ref.startswith("#/$defs/"):
                enter(ref.removeprefix("#/$defs/"))
            for key, value in node.items():
                if key != DEFS:
                    queue.extend(subschemas(key, value, pointer_to(pointer, key)))
        rest = [name for name in defs if name not in entered]
        if not rest:
            return found
        enter(rest[0])
