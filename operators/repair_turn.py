"""The user turn that re-asks after an invalid answer."""

from operators.outcome import Failure


def repair_message(failure: Failure, *, tool_name: str) -> str:
    """Tell the model what was wrong with its call and ask for a corrected one."""
    return (
        f"Your call to {tool_name} was rejected ({failure.reason}): {failure.message}\n"
        f"Call {tool_name} again with arguments that satisfy its parameters schema, "
        "as one JSON object within <tool_call></tool_call> XML tags."
    )
