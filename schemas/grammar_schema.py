"""The schema the structured-output backend is given (vLLM's xgrammar backend, strict
mode, no free whitespace), derived from the user's schema so that the constraint admits
only values the Arrow mapping (schemas/arrow_types.py, which reads this same schema) can
write. Validation still checks the user's own schema with its own draft, so every
keyword this drops is enforced by the re-ask loop instead of the grammar.

The rewrites (schemas/grammar_normalizer.py does them node by node; schemas/schema_merge.py
merges), each for a measured reason:
- references bundled into `$defs` (schemas/schema_bundle.py), so they survive nesting;
- `allOf` merged into one schema, `oneOf` read as `anyOf`, and a node's own keywords
  copied into each of its `anyOf` branches: xgrammar reads a branch without a type as
  any value (a root `type: object` beside `anyOf: [{required: [a]}, ...]` let it write
  `null`), and does not apply a multi-branch `allOf` at all;
- `$ref` beside other keywords merged with them (draft 2019-09 on; older drafts ignore
  such siblings, so they are dropped);
- an object that declares or requires properties is closed (its keys are its columns),
  and each required name gets a property;
- a missing `type` is inferred when every keyword belongs to one type;
- what vLLM refuses with xgrammar, or xgrammar cannot express, dropped: `multipleOf`,
  `uniqueItems`, `contains`, `if`/`then`/`else`, `not`, dependencies, formats outside
  xgrammar's list, length bounds beside a pattern or format, `propertyNames` beside
  properties, more than one `patternProperties`;
- draft-04 boolean `exclusiveMinimum`/`exclusiveMaximum` and draft-07 tuple `items`
  rewritten into their 2020-12 forms; `true`, `{}` and a free-form object or array
  spelled out as one any-JSON definition (xgrammar's own reading of them ignores the
  separators and, in strict mode, allows only empty containers); a `false` property or
  branch is removed (a required one makes its object unsatisfiable).
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from schemas.grammar_normalizer import ANY_JSON, ANY_SCHEMA, Normalizer
from schemas.schema_bundle import Bundle, bundle
from schemas.schema_error import UnsupportedSchemaError


@dataclass
class GrammarSchema:
    """The backend's schema: `root`, and the `defs` its `#/$defs/<name>` references name."""

    root: dict[str, Any]
    defs: dict[str, Any] = field(default_factory=dict)
    bundled: Bundle | None = None  # the user's schema with its references bundled, nothing else changed

    def document(self, root: dict[str, Any] | None = None) -> dict[str, Any]:
        root = self.root if root is None else root
        return {**root, "$defs": self.defs} if self.defs else root

    def resolve(self, node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The node a `$ref` names (and that name), or `node` itself."""
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node, None
        name = ref.removeprefix("#/$defs/")
        return self.defs.get(name, {}), name


def grammar_schema(document: Any, entry: str = "") -> GrammarSchema:
    """The backend's schema for a user's JSON Schema document (see the module docstring);
    `entry`: the pointer of a subschema to take instead of the root."""
    bundled = bundle(document, entry)
    normalizer = Normalizer(bundled)
    while True:  # until no more definitions turn out unsatisfiable (a reference to one is unsatisfiable too)
        defs = {name: normalizer.node(node, bundled.origins.get(name, "")) for name, node in bundled.defs.items()}
        unsatisfiable = {name for name, node in defs.items() if node is False}
        if unsatisfiable <= normalizer.unsatisfiable:
            break
        normalizer.unsatisfiable |= unsatisfiable
    root = normalizer.node(bundled.root, entry)
    if root is False:
        raise UnsupportedSchemaError(entry, "no value satisfies this schema")
    defs = {name: node for name, node in defs.items() if node is not False}
    return GrammarSchema(root=root, defs=_referenced(root, {**defs, ANY_JSON: ANY_SCHEMA}), bundled=bundled)


def _referenced(root: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Only the definitions `root` reaches (inlining may have made some unused)."""
    reached: list[str] = []
    todo = [root]
    while todo:
        text = json.dumps(todo.pop())
        for ref in re.findall(r'"\$ref": "#/\$defs/((?:[^"\\]|\\.)*)"', text):
            name = json.loads(f'"{ref}"')
            if name in defs and name not in reached:
                reached.append(name)
                todo.append(defs[name])
    return {name: defs[name] for name in defs if name in reached}
