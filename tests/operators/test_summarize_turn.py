"""The summary turn's pure pieces: the conversation it continues (rendered exactly),
how a summary is judged, and how a JSON column is taken in."""

import json

from operators import k2_format as k2
from operators.outcome import Failure
from operators.render_prompt import Turn, render, to_text, to_token_ids
from operators.summarize_turn import (
    call_text,
    judge_summary,
    response_json,
    standalone_turns,
    summary_repair_turns,
    summary_turns,
)

CALL = '{"name":"record_headlines","arguments":{"city":"Lyon"}}'


def test_call_text_is_the_json_between_the_tags():
    assert call_text(k2.TOOL_CALL_OPEN + CALL) == CALL
    assert call_text(k2.TOOL_CALL_OPEN + CALL + k2.TOOL_CALL_CLOSE + k2.EOS) == CALL
    assert call_text(" " + CALL + k2.EOS) == CALL


def test_summary_prompt_extends_the_extraction_prompt(tiny_tokenizer):
    """Golden text of the second turn, and token ids that start with the first turn's
    ids up to the prime: what makes the summary a prefix-cache hit."""
    first = [Turn("user", "Article: riots in Lyon")]
    turns = first + summary_turns(k2.TOOL_CALL_OPEN + CALL, {"city": "Lyon"})
    assert to_text(render("S", turns)) == (
        "S<|endofsystemprompt|><|beginofuser|>Article: riots in Lyon"
        f"<|beginofsystem|><tool_call>{CALL}</tool_call></s>"
        '<|beginofuser|><tool_response>{"city": "Lyon"}</tool_response><|beginofsystem|>'
    )
    extraction_ids = to_token_ids(render("S", first, prime=k2.TOOL_CALL_OPEN), tiny_tokenizer)
    summary_ids = to_token_ids(render("S", turns), tiny_tokenizer)
    assert summary_ids[: len(extraction_ids)] == extraction_ids


def test_standalone_summary_is_the_prompt_then_the_response():
    text = to_text(render("S", standalone_turns("Summarize the order.", '{"items": 2}')))
    assert text == (
        "S<|endofsystemprompt|><|beginofuser|>Summarize the order."
        '<|beginofuser|><tool_response>{"items": 2}</tool_response><|beginofsystem|>'
    )


def test_a_summary_cut_off_or_blank_is_a_failure():
    assert judge_summary("  - Lyon\n", "stop", max_tokens=8) == (None, "- Lyon")
    failure, _ = judge_summary("- Ly", "length", max_tokens=8)
    assert failure.reason == "summary_truncated" and "max_tokens (8)" in failure.message
    assert judge_summary(" \n", "stop", max_tokens=8)[0].reason == "summary_empty"


def test_repair_turns_keep_the_failed_summary_and_ask_again():
    turns = summary_repair_turns("- Ly", Failure("summary_truncated", "cut"))
    assert turns[0] == Turn("assistant", "- Ly")
    assert turns[1].role == "user" and "cut off" in turns[1].content


def test_response_json_accepts_json_and_names_the_row_otherwise():
    assert response_json('{"a": [1, 2]}', column="order", row_id="r1") == '{"a": [1, 2]}'
    assert json.loads(response_json({"a": 1}, column="order", row_id="r1")) == {"a": 1}
    bad = response_json("{not json", column="order", row_id="r7")
    assert bad.reason == "invalid_json" and "'order' of row 'r7'" in bad.message
    assert response_json(None, column="order", row_id="r8").reason == "empty_input"
    assert response_json("  ", column="order", row_id="r9").reason == "empty_input"
    import pandas as pd

    assert response_json(pd.NA, column="order", row_id="r10").reason == "empty_input", "a null of an Arrow-backed column"
    assert response_json(float("nan"), column="order", row_id="r11").reason == "empty_input"
