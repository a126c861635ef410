"""Why a row could not become a record: a reason code and a message for the rejects."""

from dataclasses import dataclass

# Every reason code a reject can carry, in one place.
REASONS = {
    "empty_input": "a prompt column is null or blank",
    "prompt_too_long": "the rendered prompt leaves no room for an answer within max_model_len",
    "no_tool_call": "the answer has no <tool_call>",
    "invalid_json": "the tool call, or the task.response_column value to summarize, is not JSON",
    "bad_call": "the tool call is not one {name, arguments} object for the job's tool",
    "schema_invalid": "the arguments fail the record schema",
    "truncated": "the answer hit max_tokens before it ended",
    "engine_error": "the engine raised on this row",
    "summary_truncated": "every summary attempt hit max_tokens before it ended",
    "summary_empty": "every summary attempt came back blank",
}


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str

    def __post_init__(self):
        if self.reason not in REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}; known: {sorted(REASONS)}")
