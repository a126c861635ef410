"""The summary turn: the card's "JSON formatter" flow, as pure functions the engine
actor calls in order.

After a valid record, the conversation continues with the model's own call as a
`tool_call` turn and the record as a `tool_response` turn; the model then answers in
plain text, which the system prompt asks to be a bullet-point summary. Both turns run
in the same engine, so the summary's prompt starts with the extraction prompt's tokens
(a prefix-cache hit). A summary that ends by length or comes back blank is re-asked
with a repair turn, up to `model.max_attempts` summary attempts (a bound of its own:
the extraction attempts already spent do not shrink it), then the row is a reject.
"""

import json
from typing import Any

import pandas as pd

from operators import k2_format as k2
from operators.outcome import Failure
from operators.render_prompt import Turn


def call_text(answer: str) -> str:
    """The call's JSON text out of an answer (after a `<tool_call>` prime, or with the tag
    written by the model), without the closing tag or the end of turn."""
    start = answer.find(k2.TOOL_CALL_OPEN)
    body = answer[start + len(k2.TOOL_CALL_OPEN):] if start >= 0 else answer
    for end in (k2.TOOL_CALL_CLOSE, k2.EOS, *k2.SAFETY_STOPS):
        body = body.split(end, 1)[0]
    return body.strip()


def summary_turns(answer: str, record: dict[str, Any]) -> list[Turn]:
    """The turns that hand a valid record back to the model to summarize."""
    return [Turn("tool_call", call_text(answer)), Turn("tool_response", json.dumps(record, ensure_ascii=False))]


def standalone_turns(user_text: str, response_json: str) -> list[Turn]:
    """A summary of an existing JSON column: the row's prompt, then the JSON as the tool response."""
    return [Turn("user", user_text), Turn("tool_response", response_json)]


def response_json(value: Any, *, column: str, row_id: Any) -> str | Failure:
    """The column's value as compact JSON text, or why it cannot be summarized."""
    # None, NaN and pd.NA (what an Arrow-backed column gives Ray Data's pandas batches for a null)
    if (pd.api.types.is_scalar(value) and pd.isna(value)) or (isinstance(value, str) and not value.strip()):
        return Failure("empty_input", f"task.response_column {column!r} is null or blank in row {row_id!r}")
    if not isinstance(value, str):  # e.g. a struct column read as a dict
        return json.dumps(value, ensure_ascii=False, default=str)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        return Failure("invalid_json", f"task.response_column {column!r} of row {row_id!r} is not valid JSON: {err}")
    return json.dumps(parsed, ensure_ascii=False)


def judge_summary(text: str, finish_reason: str | None, *, max_tokens: int) -> tuple[Failure | None, str]:
    """The summary as written (stripped), or why it is not one."""
    summary = text.strip()
    if finish_reason == "length":
        return Failure("summary_truncated", f"the summary reached max_tokens ({max_tokens}) before it ended"), summary
    if not summary:
        return Failure("summary_empty", "the summary is blank"), summary
    return None, summary


def summary_repair_turns(summary: str, failure: Failure) -> list[Turn]:
    """The failed summary and a user turn asking for a complete, shorter one."""
    ask = {
        "summary_truncated": "Your summary was cut off. Summarize the tool response again in a few short bullet points.",
        "summary_empty": "Your summary was empty. Summarize the tool response in a few short bullet points.",
    }[failure.reason]
    return [Turn("assistant", summary), Turn("user", ask)]
