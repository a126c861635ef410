"""Where each top-level field's value lies in a constrained answer's text.

A constrained answer is one tool call, `{"name": ..., "arguments": {...}}` (operators/
sampling.py): confidence needs to know which characters hold each argument's value, to
find the tokens that wrote it (operators/confidence.py). The JSON decoder gives every
value's end, so the object is walked key by key; no regular expression can tell a key
from the same text inside a string value.
"""

import json

_DECODER = json.JSONDecoder(strict=False)  # raw control characters in strings, as parse_tool_call reads them


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def object_spans(text: str, start: int) -> dict[str, tuple[int, int]] | None:
    """The [start, end) character span of each member's value of the object that opens at
    `start`; None if the text there is not a whole JSON object."""
    at = _skip_space(text, start)
    if text[at:at + 1] != "{":
        return None
    spans: dict[str, tuple[int, int]] = {}
    at = _skip_space(text, at + 1)
    if text[at:at + 1] == "}":
        return spans
    try:
        while True:
            key, at = json.decoder.scanstring(text, at + 1, False) if text[at] == '"' else (None, at)
            if key is None:
                return None
            at = _skip_space(text, at)
            if text[at:at + 1] != ":":
                return None
            begin = _skip_space(text, at + 1)
            _, end = _DECODER.raw_decode(text, begin)
            spans[key] = (begin, end)
            at = _skip_space(text, end)
            if text[at:at + 1] == "}":
                return spans
            if text[at:at + 1] != ",":
                return None
            at = _skip_space(text, at + 1)
    except (json.JSONDecodeError, IndexError, ValueError):
        return None


def argument_spans(answer: str) -> dict[str, tuple[int, int]] | None:
    """Each top-level argument's value span in `answer` (the call's JSON, as generated
    after the prime); None if the answer is not one call object with an `arguments` object."""
    call = object_spans(answer, 0)
    if call is None or "arguments" not in call:
        return None
    return object_spans(answer, call["arguments"][0])
