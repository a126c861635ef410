"""Parser cases: object, list, key order, garbage, missing tags, truncation."""

import pytest

from operators.outcome import Failure
from operators.parse_tool_call import parse_tool_call

ARGS = {"city": "Lyon", "n": 2}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "rec", "arguments": {"city": "Lyon", "n": 2}}</tool_call>',
        '<tool_call>{"arguments": {"city": "Lyon", "n": 2}, "name": "rec"}</tool_call>',
        '<tool_call> [{"name": "rec", "arguments": {"city": "Lyon", "n": 2}}] </tool_call></s>',
        '<tool_call>{"name":"rec","arguments":{"city":"Lyon","n":2}}',  # constrained: ends at EOS
        'Sure.\n<tool_call>\n{"name": "rec", "arguments": "{\\"city\\": \\"Lyon\\", \\"n\\": 2}"}\n</tool_call>',
    ],
    ids=["object", "keys-reversed", "list", "no-closing-tag", "arguments-as-string"],
)
def test_accepts_one_call_in_the_shapes_k2_writes(text):
    assert parse_tool_call(text, tool_name="rec") == ARGS


def test_raw_control_characters_in_strings_are_parsed_leniently():
    assert parse_tool_call('<tool_call>{"name": "rec", "arguments": {"city": "Ly\x01on"}}', tool_name="rec") == {"city": "Ly\x01on"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"name": "rec", "arguments": {}}', "no_tool_call"),
        ("<tool_call>not json at all</tool_call>", "invalid_json"),
        ('<tool_call>{"name": "rec", "arguments": {"city": "Ly', "invalid_json"),
        ('<tool_call>{"name": "other", "arguments": {}}</tool_call>', "bad_call"),
        ('<tool_call>{"name": "rec"}</tool_call>', "bad_call"),
        ('<tool_call>[{"name": "rec", "arguments": {}}, {"name": "rec", "arguments": {}}]</tool_call>', "bad_call"),
        ('<tool_call>{"name": "rec", "arguments": [1, 2]}</tool_call>', "bad_call"),
        ("<tool_call>42</tool_call>", "bad_call"),
    ],
    ids=["missing-tag", "garbage", "truncated", "wrong-tool", "missing-arguments", "two-calls", "array-arguments", "scalar"],
)
def test_rejects_say_why(text, reason):
    result = parse_tool_call(text, tool_name="rec")
    assert isinstance(result, Failure)
    assert result.reason == reason
    assert result.message
