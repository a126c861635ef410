"""A JSON Schema made self-contained: every reference it makes resolved once, by the
`referencing` library jsonschema itself uses, and rewritten to `#/$defs/<name>`.

Why: the record schema is nested under the tool call's `arguments` (and under `value`
when its root is not an object), where `#/definitions/...`, `#/properties/...`, `$id`-
relative and `$anchor` references would no longer resolve. After bundling, all of them
point into one top-level `$defs`, which stays valid wherever the root is put.

Nothing is fetched: a reference to a document outside the schema (other than the JSON
Schema meta-schemas, which jsonschema ships) is refused with its JSON pointer.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from schemas.json_pointer import pointer_to, unescape, value_at
from schemas.schema_error import UnsupportedSchemaError
from schemas.subschemas import with_subschemas

REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")
# Identify resources or hold definitions: meaningless once every reference is rewritten.
DROPPED = ("$defs", "definitions", "$id", "$schema", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$vocabulary",
           "$comment")
DEFAULT_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass
class Bundle:
    """`root` and the `defs` its `#/$defs/<name>` references name; `origins[name]` is
    where that definition is in the user's document (a pointer, or the reference)."""

    root: Any
    defs: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    dialect: str = DEFAULT_DIALECT

    def document(self, root: Any = None) -> Any:
        """`root` (default: the bundled root) with the definitions beside it."""
        root = self.root if root is None else root
        if not self.defs:
            return root
        return {**(root if isinstance(root, dict) else ({} if root else {"not": {}})), "$defs": self.defs}


def dialect_of(document: Any) -> str:
    schema = document.get("$schema") if isinstance(document, dict) else None
    return schema.rstrip("#") if isinstance(schema, str) else DEFAULT_DIALECT


def bundle(document: Any, entry: str = "") -> Bundle:
    """`document` with every reference resolved into `$defs` (see the module docstring);
    `entry`: the pointer of a subschema to bundle instead of the root, in the root's context."""
    return _Bundler(document).run(entry)


class _Bundler:
    def __init__(self, document: Any):
        from jsonschema_specifications import REGISTRY as META_SCHEMAS
        from referencing.jsonschema import DRAFT202012, specification_with

        self.document = document
        self.dialect = dialect_of(document)
        self.spec = specification_with(self.dialect, default=DRAFT202012)
        resource = self.spec.create_resource(document)
        self.base = resource.id() or ""
        self.legacy_id = "draft-04" in self.dialect or "draft-03" in self.dialect  # `id`, not `$id`
        registry = META_SCHEMAS.with_resource(self.base, resource)
        try:
            registry = registry.crawl()  # finds `$id`s and anchors inside the document
        except (AttributeError, TypeError):  # a keyword of another draft where this draft expects a schema
            pass
        self.resolver = registry.resolver(self.base)
        self.names: dict[int, str] = {}  # id() of a reference's target -> its definition's name
        self.defs: dict[str, Any] = {}
        self.origins: dict[str, str] = {}
        self.keep: list[Any] = []  # targets whose id() is a key of `names`: alive until the end

    def run(self, entry: str) -> Bundle:
        if entry:
            from referencing.exceptions import Unresolvable

            try:
                resolved = self.resolver.lookup("#" + entry)
                contents, resolver = resolved.contents, resolved.resolver
            except Unresolvable:
                raise UnsupportedSchemaError(entry, "no subschema there") from None
            except (AttributeError, TypeError):  # the lookup reads another draft's keyword as a schema, as crawl() can
                contents, resolver = value_at(self.document, entry), self.resolver
                if contents is None:
                    raise UnsupportedSchemaError(entry, "no subschema there") from None
            root = self.walk(contents, resolver, entry)
        else:
            root = self.walk(self.document, self.resolver, "")
        return Bundle(root=root, defs=self._in_document_order(), origins=self.origins, dialect=self.dialect)

    def walk(self, node: Any, resolver, pointer: str) -> Any:
        if not isinstance(node, dict):
            return node
        resolver = resolver.in_subresource(self.spec.create_resource(node))
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = pointer_to(pointer, key)
            if key in REFERENCES and isinstance(value, str):
                out["$ref"] = self.reference(value, resolver, here)
            elif key in DROPPED or (key == "id" and isinstance(value, str) and self.legacy_id):
                continue
            else:  # subschemas walked; data (enum, const, default, ...) or an unknown keyword copied as is
                out[key] = with_subschemas(key, value, here, lambda schema, at: self.walk(schema, resolver, at))
        return out

    def reference(self, ref: str, resolver, pointer: str) -> str:
        from referencing.exceptions import Unresolvable

        try:
            resolved = resolver.lookup(ref)
        except Unresolvable:
            raise UnsupportedSchemaError(pointer, _unresolvable(ref)) from None
        target = resolved.contents
        name = self.names.get(id(target))
        if name is None:
            name = self._new_name(ref, target)
            self.names[id(target)] = name
            self.keep.append(target)
            self.origins[name] = ref[1:] if ref.startswith("#/") else ("" if ref == "#" else ref)
            self.defs[name] = True  # reserved: a recursive reference met while walking finds the name
            self.defs[name] = self.walk(target, resolved.resolver, self.origins[name] if ref.startswith("#") else pointer)
        return "#/$defs/" + name

    def _new_name(self, ref: str, target: Any) -> str:
        fragment = ref.partition("#")[2]
        last = unescape(fragment.rsplit("/", 1)[-1]) if fragment else ref.partition("#")[0]
        if not last and isinstance(target, dict) and isinstance(target.get("title"), str):
            last = target["title"]
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_") or "root"
        name, n = base, 1
        while name in self.defs:
            n += 1
            name = f"{base}-{n}"
        return name

    def _in_document_order(self) -> dict[str, Any]:
        """The definitions of the document's own `$defs` first, in its order (a pydantic
        schema bundles to itself), then the others as they were met."""
        own = self.document.get("$defs") if isinstance(self.document, dict) else None
        first = [n for n in own if n in self.defs and self.origins.get(n) == f"/$defs/{n}"] if isinstance(own, dict) else []
        return {**{n: self.defs[n] for n in first}, **self.defs}


def _unresolvable(ref: str) -> str:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", ref):
        return (f"remote reference {ref!r}: nothing is fetched at run time; "
                "copy the schema it names into $defs and refer to it as #/$defs/<name>")
    if not ref.startswith("#"):
        return f"reference {ref!r} names another document: copy that schema into $defs and refer to it as #/$defs/<name>"
    return f"reference {ref!r} points to nothing in the schema"
