"""The rewrites of schemas/grammar_schema.py, node by node: one user subschema (bundled)
in, its grammar form out, or False when no value satisfies it."""

import re
from typing import Any

from schemas.json_pointer import pointer_to
from schemas.schema_bundle import Bundle
from schemas.schema_merge import ANNOTATIONS, TYPES, exclusive_bounds, json_type, merge, structural

# vllm/v1/structured_output/backend_xgrammar.py STRING_SUPPORTED_FORMATS: vLLM refuses
# a request whose schema has another format.
SUPPORTED_FORMATS = frozenset({"email", "date", "time", "date-time", "duration", "ipv4", "ipv6", "hostname", "uuid", "uri",
                               "uri-reference", "uri-template", "json-pointer", "relative-json-pointer"})
KIND_KEYWORDS = {
    "object": ("properties", "additionalProperties", "patternProperties", "required", "minProperties", "maxProperties",
               "propertyNames", "dependentRequired", "dependencies", "unevaluatedProperties"),
    "array": ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains",
              "maxContains", "unevaluatedItems"),
    "string": ("minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
}
# What the grammar keeps, per kind (annotations always); everything else is dropped.
KEPT = {
    "object": ("properties", "required", "additionalProperties", "patternProperties", "propertyNames", "minProperties",
               "maxProperties"),
    "array": ("items", "prefixItems", "minItems", "maxItems"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}
# Any JSON value, spelled out: xgrammar's own reading of `{}` writes ", " between items
# whatever the separators (vllm's backend_xgrammar.py notes the bug), and strict mode
# reads a bare object or array as an empty one.
ANY_JSON = "k2batch.any-json"
ANY_REF = f"#/$defs/{ANY_JSON}"
ANY_SCHEMA = {"anyOf": [{"type": "null"}, {"type": "boolean"}, {"type": "number"}, {"type": "string"},
                        {"type": "array", "items": {"$ref": ANY_REF}},
                        {"type": "object", "additionalProperties": {"$ref": ANY_REF}}]}


class Normalizer:
    def __init__(self, bundled: Bundle):
        self.defs = bundled.defs
        # Before 2019-09, keywords beside a `$ref` are ignored (draft-07 section 8.3).
        self.ref_siblings_ignored = any(f"draft-0{n}" in bundled.dialect for n in (3, 4, 6, 7))
        self.unsatisfiable: set[str] = set()  # definitions no value satisfies

    def node(self, schema: Any, pointer: str) -> dict[str, Any] | bool:
        """The grammar's form of one subschema, or False when no value satisfies it."""
        if schema is True or not isinstance(schema, (dict, bool)):
            return {"$ref": ANY_REF}
        if schema is False:
            return False
        flat = self.flatten(schema)
        if flat is False:
            return False
        if "anyOf" in flat:
            return self.alternatives(flat, pointer)
        if "$ref" in flat:
            if flat["$ref"].removeprefix("#/$defs/") in self.unsatisfiable:
                return False
            return {k: v for k, v in flat.items() if k == "$ref" or k in ANNOTATIONS}
        return self.typed(flat, pointer)

    def flatten(self, schema: dict[str, Any]) -> dict[str, Any] | bool:
        """`schema` without allOf or oneOf, its own keywords copied into its anyOf branches."""
        flat = exclusive_bounds(dict(schema))
        if "$ref" in flat and structural(flat, "$ref"):
            if self.ref_siblings_ignored:
                flat = {k: v for k, v in flat.items() if k == "$ref" or k in ANNOTATIONS}
            else:
                flat = {**{k: v for k, v in flat.items() if k != "$ref"}, "allOf": [{"$ref": flat["$ref"]}, *flat.get("allOf", [])]}
        if "oneOf" in flat:
            one_of = flat.pop("oneOf")
            if "anyOf" in flat:
                flat["allOf"] = [*flat.get("allOf", []), {"anyOf": one_of}]
            else:
                flat["anyOf"] = one_of
        inlined: set[str] = set()
        while isinstance(flat, dict) and isinstance(flat.get("allOf"), list):
            parts = flat.pop("allOf")
            for part in parts:
                flat = merge(flat, self.inline(part, inlined))
                if flat is False:
                    return False
        if not isinstance(flat, dict):
            return flat
        if isinstance(flat.get("anyOf"), list) and structural(flat, "anyOf"):
            siblings = {k: v for k, v in flat.items() if k not in ANNOTATIONS and k != "anyOf"}
            branches = [merge(siblings, self.inline(b, set())) for b in flat["anyOf"]]
            flat = {**{k: flat[k] for k in ANNOTATIONS if k in flat}, "anyOf": branches}
        return flat

    def inline(self, part: Any, inlined: set[str]) -> dict[str, Any] | bool:
        """An allOf part or anyOf branch as a plain schema: a `$ref` is replaced by what it
        names (once per flattening: a recursive one is dropped, leaving a looser grammar)."""
        if part is True or not isinstance(part, (dict, bool)):
            return {}
        if part is False:
            return False
        part = exclusive_bounds(dict(part))
        ref = part.get("$ref")
        if not isinstance(ref, str):
            return part
        name = ref.removeprefix("#/$defs/")
        rest = {k: v for k, v in part.items() if k != "$ref"}
        if self.ref_siblings_ignored:
            rest = {k: v for k, v in rest.items() if k in ANNOTATIONS}
        if name in inlined or name not in self.defs:
            return rest
        inlined.add(name)
        target = self.defs[name]
        if target is False:
            return False
        return merge(rest, self.inline(target, inlined) if isinstance(target, dict) else {})

    def alternatives(self, flat: dict[str, Any], pointer: str) -> dict[str, Any] | bool:
        branches = []
        for i, branch in enumerate(flat["anyOf"]):
            normal = self.node(branch, pointer_to(pointer, "anyOf", i))
            if normal is False:
                continue
            if set(normal) - set(ANNOTATIONS) == {"anyOf"}:
                branches.extend(normal["anyOf"])
            else:
                branches.append(normal)
        notes = {k: flat[k] for k in ANNOTATIONS if k in flat}
        if not branches:
            return False
        if len(branches) == 1:
            return {**notes, **branches[0]}
        return {**notes, "anyOf": branches}

    def typed(self, flat: dict[str, Any], pointer: str) -> dict[str, Any] | bool:
        """One schema without combinators: its type's keywords, normalized."""
        types = _types(flat)
        if types is None and "enum" not in flat and "const" not in flat:
            kinds = [kind for kind, words in KIND_KEYWORDS.items() if any(w in flat for w in words)]
            types = kinds if len(kinds) == 1 else None
        if types is not None and ("enum" in flat or "const" in flat):
            values = [v for v in (flat["enum"] if "enum" in flat else [flat["const"]]) if json_type(v) in types
                      or (json_type(v) == "integer" and "number" in types)]
            if not values:
                return False
            flat = {**flat, "enum": values} if "enum" in flat else flat
        if "enum" in flat and not flat["enum"]:
            return False
        kinds = set(types or [k for k, words in KIND_KEYWORDS.items() if any(w in flat for w in words)])
        if types is None and "enum" not in flat and "const" not in flat:
            if not kinds:
                return {**{k: v for k, v in flat.items() if k in ANNOTATIONS}, "$ref": ANY_REF}
            types = sorted(kinds)  # keywords of several types: any of those types
        kinds |= {"number"} if "integer" in kinds else set()
        out: dict[str, Any] = {}
        if types is not None and "type" not in flat:
            out["type"] = types[0] if len(types) == 1 else types
        for key, value in flat.items():
            if key == "type" and types is not None:
                out["type"] = types[0] if len(types) == 1 else types
            elif key in ANNOTATIONS or key in ("enum", "const") or any(key in KEPT[k] for k in kinds if k in KEPT):
                out[key] = value
        if "string" in kinds:
            _string_keywords(out)
        if "integer" in kinds:
            _int64_bounds(out)
        if "array" in kinds and self.array_keywords(out, flat, pointer) is False:
            return False
        if "object" in kinds and self.object_keywords(out, pointer) is False:
            return False
        return out

    def array_keywords(self, out: dict[str, Any], flat: dict[str, Any], pointer: str) -> bool | None:
        """Normalize an array's keywords in `out`; False if no array satisfies them."""
        items = flat.get("items")
        if isinstance(items, list):  # draft-07 tuple: prefixItems, then additionalItems
            out["prefixItems"] = items
            out.pop("items", None)
            if "additionalItems" in flat:
                out["items"] = flat["additionalItems"]
        if "prefixItems" in out:
            prefix = []
            for i, item in enumerate(out["prefixItems"]):
                normal = self.node(item, pointer_to(pointer, "prefixItems", i))
                if normal is False:
                    if out.get("minItems", 0) > i:
                        return False
                    out["maxItems"] = i
                    out.pop("items", None)
                    break
                prefix.append(normal)
            out["prefixItems"] = prefix
        if "items" in out:
            normal = self.node(out["items"], pointer_to(pointer, "items"))
            if normal is False:
                out.pop("items")
                out["maxItems"] = len(out.get("prefixItems", []))
                if out.get("minItems", 0) > out["maxItems"]:
                    return False
            else:
                out["items"] = normal
        elif "prefixItems" not in out and out.get("maxItems") != 0:
            out["items"] = {"$ref": ANY_REF}  # strict mode reads a missing `items` as "no items"; the schema means any
        if not out.get("prefixItems", True):
            out.pop("prefixItems")
        return None

    def object_keywords(self, out: dict[str, Any], pointer: str) -> bool | None:
        """Normalize an object's keywords in `out`; False if no object satisfies them."""
        properties = out.get("properties") if isinstance(out.get("properties"), dict) else {}
        required = [n for n in out.get("required", []) if isinstance(n, str)] if isinstance(out.get("required"), list) else []
        extra = out.get("additionalProperties")
        patterns = out.get("patternProperties") if isinstance(out.get("patternProperties"), dict) else {}
        if properties or required:
            closed = {}
            for name, sub in properties.items():
                normal = self.node(sub, pointer_to(pointer, "properties", name))
                if normal is False and name in required:
                    return False
                if normal is not False:
                    closed[name] = normal
            for name in required:
                if name not in closed:
                    matching = [s for p, s in patterns.items() if _searches(p, name)]
                    sub = matching[0] if matching else (extra if isinstance(extra, (dict, bool)) else {})
                    normal = self.node(sub, pointer_to(pointer, "required"))
                    if normal is False:
                        return False
                    closed[name] = normal
            out["properties"] = closed
            if "required" in out:
                out["required"] = list(dict.fromkeys(required))
            for key in ("patternProperties", "propertyNames"):
                out.pop(key, None)
            if extra is not False:
                out.pop("additionalProperties", None)  # strict mode closes the object
            if isinstance(out.get("minProperties"), int) and out["minProperties"] > len(closed):
                out.pop("minProperties")
            return None
        out.pop("properties", None)
        out.pop("required", None)
        if extra is True or ("additionalProperties" not in out and not patterns):
            out["additionalProperties"] = {"$ref": ANY_REF}  # strict mode reads its absence as false beside minProperties
        elif isinstance(extra, dict):
            normal = self.node(extra, pointer_to(pointer, "additionalProperties"))
            out["additionalProperties"] = normal
        if patterns:
            values = {p: self.node(s, pointer_to(pointer, "patternProperties", p)) for p, s in patterns.items()}
            values = {p: v for p, v in values.items() if v is not False}
            if len(values) > 1:  # vLLM refuses several: one anyOf for every extra key instead
                others = [out["additionalProperties"]] if isinstance(out.get("additionalProperties"), dict) else []
                out.pop("patternProperties")
                out["additionalProperties"] = {"anyOf": [*values.values(), *others]}
            elif values:
                out["patternProperties"] = values
            else:
                out.pop("patternProperties")
        names = out.get("propertyNames")
        if "propertyNames" in out:
            if not isinstance(names, dict) or "patternProperties" in out or (
                    ("pattern" in names or "format" in names) and ("minLength" in names or "maxLength" in names)):
                out.pop("propertyNames")
            else:
                out["propertyNames"] = self.node(names, pointer_to(pointer, "propertyNames")) or {}
        return None


def _types(flat: dict[str, Any]) -> list[str] | None:
    declared = flat.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if not isinstance(declared, list):
        return None
    kept = [t for t in dict.fromkeys(declared) if t in TYPES]
    return kept or None


def _string_keywords(out: dict[str, Any]) -> None:
    if "format" in out and out["format"] not in SUPPORTED_FORMATS:
        out.pop("format")
    if ("pattern" in out or "format" in out) and ("minLength" in out or "maxLength" in out):
        out.pop("minLength", None)  # vLLM refuses a pattern or format beside length bounds
        out.pop("maxLength", None)


def _int64_bounds(out: dict[str, Any]) -> None:
    """Integer bounds beyond 64 bits (xgrammar refuses them; the column is int64 anyway)."""
    for key, limit, beyond in (("minimum", -(2**63), lambda v: v < -(2**63)), ("maximum", 2**63 - 1, lambda v: v > 2**63 - 1)):
        if isinstance(out.get(key), (int, float)) and beyond(out[key]):
            out[key] = limit


def _searches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False
