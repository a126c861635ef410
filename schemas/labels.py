"""Label mode's record schema: built from `task.labels`, or a string-enum field of the
job's own schema (`task.label_field`).

Labeling is extraction with a synthesized schema, so it runs through the same engine
path: constrained decoding restricts the answer to the label set, the validator checks
it, and the Arrow mapping writes the label as a dictionary-encoded string column.
"""

from typing import Any

import pyarrow as pa

from schemas.record_schema import RecordSchema

LABEL_COLUMN = "label"
RATIONALE_COLUMN = "rationale"
RATIONALE_MAX_CHARS = 200  # short: a bounded string keeps a constrained answer from running to max_tokens


def label_json_schema(labels: list[str] | dict[str, str], *, rationale: bool = False) -> dict[str, Any]:
    """`{"label": one of labels, "rationale": short text (only when asked)}`; per-label
    descriptions go into the label's description, which the model reads in the tool JSON."""
    descriptions = labels if isinstance(labels, dict) else {name: "" for name in labels}
    explained = "; ".join(f"{name}: {text}" for name, text in descriptions.items() if text)
    label: dict[str, Any] = {"type": "string", "enum": list(descriptions), "description": "The one label that fits the input."}
    if explained:
        label["description"] += f" Labels: {explained}."
    properties: dict[str, Any] = {LABEL_COLUMN: label}
    if rationale:
        properties[RATIONALE_COLUMN] = {
            "type": "string", "maxLength": RATIONALE_MAX_CHARS, "description": "Why this label, in one short sentence.",
        }
    return {
        "title": "Label", "type": "object", "properties": properties,
        "required": list(properties), "additionalProperties": False,
    }


def label_record_schema(labels: list[str] | dict[str, str], *, rationale: bool = False) -> RecordSchema:
    return RecordSchema(json_schema=label_json_schema(labels, rationale=rationale), source="task.labels")


def label_field_error(record_schema: RecordSchema, field: str) -> str | None:
    """Why `field` cannot hold the label (None if it can): it must be a top-level string
    enum / Literal, which is what the Arrow mapping writes as a dictionary column."""
    names = record_schema.arrow_schema.names
    if field not in names:
        return f"{field!r} is not a top-level field of the schema (it has {names})"
    if record_schema.arrow_schema.field(field).type != pa.dictionary(pa.int32(), pa.string()):
        return f"{field!r} is not a string enum / Literal field, so it has no fixed label set"
    return None


def declared_labels(record_schema: RecordSchema, column: str) -> list[str]:
    """The label set of `column`, in schema order (from the enum the decoder is held to)."""
    root = record_schema.json_schema
    node = root["properties"][column]
    while "$ref" in node:  # pydantic puts an Enum class under $defs
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    variants = node.get("anyOf") or [node]
    return [value for variant in variants for value in variant.get("enum", [variant.get("const")]) if value is not None]
