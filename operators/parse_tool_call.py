"""Parse K2-Chat's `<tool_call>` answer into the arguments of one call."""

import json
from typing import Any

from operators import k2_format as k2
from operators.outcome import Failure


def parse_tool_call(text: str, *, tool_name: str) -> dict[str, Any] | Failure:
    """Return the call's arguments, or a Failure saying what is wrong.

    Accepts one object or a one-element list, keys in either order, with or without the
    closing tag (a constrained answer ends at EOS right after the JSON); text after the
    first JSON value is ignored. Strings may hold
    raw control characters: they are parsed leniently (`strict=False`) and left to the
    schema to judge, since the tiny model writes them and K2 may too.
    """
    start = text.find(k2.TOOL_CALL_OPEN)
    if start < 0:
        return Failure("no_tool_call", f"the answer does not contain {k2.TOOL_CALL_OPEN}")
    body = text[start + len(k2.TOOL_CALL_OPEN) :].lstrip()
    # Decode the first JSON value and ignore what follows (`</tool_call></s>`): searching
    # for the closing tag instead would cut a string value that contains it.
    try:
        call, _ = json.JSONDecoder(strict=False).raw_decode(body)
    except json.JSONDecodeError as err:
        return Failure("invalid_json", f"the tool call is not valid JSON: {err}")
    if isinstance(call, list):
        if len(call) != 1:
            return Failure("bad_call", f"expected one tool call, got a list of {len(call)}")
        call = call[0]
    if not isinstance(call, dict) or set(call) != {"name", "arguments"}:
        keys = sorted(call) if isinstance(call, dict) else type(call).__name__
        return Failure("bad_call", f"a tool call is an object with keys name and arguments, got {keys}")
    if call["name"] != tool_name:
        return Failure("bad_call", f"expected a call to {tool_name!r}, got {call['name']!r}")
    arguments = call["arguments"]
    if isinstance(arguments, str):  # some models emit the arguments as a JSON string
        try:
            arguments = json.loads(arguments, strict=False)
        except json.JSONDecodeError as err:
            return Failure("invalid_json", f"the arguments string is not valid JSON: {err}")
    if not isinstance(arguments, dict):
        return Failure("bad_call", f"arguments must be an object, got {type(arguments).__name__}")
    return arguments
