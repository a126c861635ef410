"""The extraction turn as pure functions the re-ask loop calls: judge an answer (parse
the tool call, validate the record), and the turns that re-ask after an invalid one."""

from typing import Any

from operators.outcome import Failure
from operators.parse_tool_call import parse_tool_call
from operators.render_prompt import Turn
from schemas.record_schema import RecordSchema


def judge_answer(answer: str, finish_reason: str | None, *, tool_name: str, record_schema: RecordSchema,
                 max_tokens: int) -> tuple[Failure | None, dict[str, Any] | None]:
    """The valid record in `answer` (the prime plus the generated text), or why there is none."""
    if finish_reason == "length":
        return Failure("truncated", f"the answer reached max_tokens ({max_tokens}) before it ended"), None
    arguments = parse_tool_call(answer, tool_name=tool_name)
    if isinstance(arguments, Failure):
        return arguments, None
    record, errors = record_schema.validate(arguments)
    if errors:
        return Failure("schema_invalid", errors), None
    return None, record


def repair_message(failure: Failure, *, tool_name: str) -> str:
    """Tell the model what was wrong with its call and ask for a corrected one."""
    return (
        f"Your call to {tool_name} was rejected ({failure.reason}): {failure.message}\n"
        f"Call {tool_name} again with arguments that satisfy its parameters schema, "
        "as one JSON object within <tool_call></tool_call> XML tags."
    )


def repair_turns(generated: str, failure: Failure, *, tool_name: str) -> list[Turn]:
    """The invalid call as the model wrote it, then the user turn that re-asks."""
    return [Turn("tool_call", generated), Turn("user", repair_message(failure, tool_name=tool_name))]
