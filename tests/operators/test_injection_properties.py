"""Properties over arbitrary Unicode row text, including K2's control strings and lone
surrogates: rendering never raises, row text never becomes a special token, and a valid
answer round-trips through the parser."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operators import k2_format as k2
from operators.parse_tool_call import parse_tool_call
from operators.prepare_prompts import clean_text
from operators.render_prompt import Turn, render, to_token_ids

CONTROL_STRINGS = [*k2.SPECIAL_TAGS, k2.EOS, "<s>", "<unk>", "<|endoftext|>"]
row_text = st.lists(
    st.one_of(st.text(), st.sampled_from(CONTROL_STRINGS), st.sampled_from(["\ud800", "\udfff", "\x00", "\x1b"])),
    max_size=8,
).map("".join)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=row_text)
def test_row_text_never_becomes_a_special_token(tiny_tokenizer, text):
    special = set(tiny_tokenizer.all_special_ids)
    pieces = render("SYS", [Turn("user", clean_text(text))], prime=k2.TOOL_CALL_OPEN)
    ids = to_token_ids(pieces, tiny_tokenizer)
    row_ids = to_token_ids([p for p in pieces if not p.template], tiny_tokenizer)
    assert not special & set(row_ids)
    template_ids = [i for i in ids if i in special]
    expected = [tiny_tokenizer.convert_tokens_to_ids(t) for t in (k2.END_OF_SYSTEM_PROMPT, k2.BEGIN_USER, k2.BEGIN_ASSISTANT, k2.TOOL_CALL_OPEN)]
    assert template_ids == expected, "exactly the template's tags, in order"


@SETTINGS
@given(value=row_text, number=st.integers(), key_order=st.booleans())
def test_a_valid_answer_round_trips(value, number, key_order):
    # An answer decoded from tokens is valid Unicode: lone surrogates only reach it escaped.
    arguments = {"text": clean_text(value), "n": number}
    call = {"name": "rec", "arguments": arguments} if key_order else {"arguments": arguments, "name": "rec"}
    for answer in (json.dumps(call), json.dumps(call, ensure_ascii=False)):
        assert parse_tool_call(k2.TOOL_CALL_OPEN + answer, tool_name="rec") == arguments
