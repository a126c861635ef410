"""K2-Chat's control strings and its function-calling system prompt, as the renderer, the
parser and the engine's stops rely on them (../shared/k2-format.md). The prompt's exact
text is pinned in tests/operators/test_render_prompt.py."""

import json
import string

from operators import k2_format as k2
from operators.render_prompt import render_system_prompt


def test_the_tags_are_distinct_and_the_safety_stops_are_tags():
    assert len(set(k2.SPECIAL_TAGS)) == len(k2.SPECIAL_TAGS) == 10
    assert set(k2.SAFETY_STOPS) <= set(k2.SPECIAL_TAGS) and k2.EOS not in k2.SPECIAL_TAGS
    assert k2.BEGIN_ASSISTANT not in k2.SAFETY_STOPS, "the assistant's own turn tag never stops it"
    for open_tag, close_tag in ((k2.TOOLS_OPEN, k2.TOOLS_CLOSE), (k2.TOOL_CALL_OPEN, k2.TOOL_CALL_CLOSE),
                                (k2.TOOL_RESPONSE_OPEN, k2.TOOL_RESPONSE_CLOSE)):
        assert close_tag == open_tag.replace("<", "</", 1)


def test_the_system_prompt_has_one_placeholder_the_tools():
    names = [name for _, name, _, _ in string.Formatter().parse(k2.FUNCTION_CALLING_V1) if name is not None]
    assert names == ["tools"]


def test_the_system_prompt_lists_the_tools_and_shows_the_call_format_as_json():
    tools = [{"name": "a", "description": "first {braces}", "parameters": {"type": "object"}},
             {"name": "b", "description": "second", "parameters": {"type": "object"}}]
    prompt = render_system_prompt(tools)
    paragraphs = prompt.split("\n")
    assert len(paragraphs) == 4, "the card's four paragraphs, one newline apart"
    listed = paragraphs[0].split(f"{k2.TOOLS_OPEN} ", 1)[1].removesuffix(f" {k2.TOOLS_CLOSE}")
    decoder, found = json.JSONDecoder(), []
    while listed:  # one JSON object per tool, a space apart
        tool, end = decoder.raw_decode(listed)
        found.append(tool)
        listed = listed[end:].removeprefix(" ")
    assert found == tools
    schema = json.loads(paragraphs[1].split(": ", 1)[1])
    assert schema["required"] == ["arguments", "name"] and set(schema["properties"]) == {"arguments", "name"}
    assert f"{k2.TOOL_CALL_OPEN} {{\"arguments\": <args-dict>, \"name\": <function-name>}} {k2.TOOL_CALL_CLOSE}" in paragraphs[2]
    example = paragraphs[3].split(f"{k2.TOOL_RESPONSE_OPEN} ", 2)[2].split(f" {k2.TOOL_RESPONSE_CLOSE}")[0]
    assert json.loads(example) == {"fruits": [{"name": "Apple"}, {"name": "Pear"}]}
    assert not any(tag in prompt for tag in (k2.END_OF_SYSTEM_PROMPT, k2.BEGIN_USER, k2.BEGIN_ASSISTANT, k2.EOS)), \
        "turn tags are the renderer's, not the system prompt's"
