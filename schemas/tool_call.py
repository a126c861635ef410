"""The tool a record schema becomes, and the JSON Schema of a call to it."""

from typing import Any


def tool_definition(*, name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool as K2-Chat's system prompt lists it inside <tools></tools>."""
    return {"name": name, "description": description, "parameters": parameters}


def tool_call_json_schema(*, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The constraint for one call: the name fixed to the tool, the arguments the record schema.

    `name` comes first (the card's example answers put it first), so the model commits to
    the function before writing its arguments. The record's `$defs` move to the top level,
    where their `#/$defs/...` references resolve.
    """
    arguments = {k: v for k, v in parameters.items() if k != "$defs"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": arguments},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    if "$defs" in parameters:
        schema["$defs"] = parameters["$defs"]
    return schema
