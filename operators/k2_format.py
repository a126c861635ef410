"""K2-Chat's control strings and the default function-calling system prompt.

Everything here follows ../shared/k2-format.md. The tags are looked up as tokens by
name, never by id (an older K2 release numbered them differently). The whitespace
of the system prompt is not published: `FUNCTION_CALLING_V1` is our one documented,
versioned choice, and a job may replace it with `task.system_prompt`.
"""

END_OF_SYSTEM_PROMPT = "<|endofsystemprompt|>"
BEGIN_USER = "<|beginofuser|>"
BEGIN_ASSISTANT = "<|beginofsystem|>"  # opens the assistant turn, despite its name
END_OF_CHAT = "<|endofchat|>"
EOS = "</s>"
TOOLS_OPEN, TOOLS_CLOSE = "<tools>", "</tools>"
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE = "<tool_response>", "</tool_response>"

SPECIAL_TAGS = (
    TOOL_RESPONSE_OPEN,
    TOOL_CALL_OPEN,
    TOOLS_OPEN,
    TOOL_RESPONSE_CLOSE,
    TOOL_CALL_CLOSE,
    TOOLS_CLOSE,
    END_OF_SYSTEM_PROMPT,
    BEGIN_ASSISTANT,
    BEGIN_USER,
    END_OF_CHAT,
)

# Stop strings besides EOS: a model that starts a new turn has finished its answer.
SAFETY_STOPS = (BEGIN_USER, END_OF_CHAT)

FUNCTION_CALLING_V1_NAME = "k2-function-calling-v1"
# The card's four paragraphs, joined by one newline each; `{tools}` is replaced by the
# tools' JSON, one per tool, separated by a space.
FUNCTION_CALLING_V1 = "\n".join(
    [
        "You are a function calling AI model. You are provided with function signatures within "
        "<tools></tools> XML tags. You may call one or more functions to assist with the user query. "
        "Don't make assumptions about what values to plug into functions. Here are the available "
        "tools: <tools> {tools} </tools>",
        'Use the following pydantic model json schema for each tool call you will make: {{"properties": '
        '{{"arguments": {{"title": "Arguments", "type": "object"}}, "name": {{"title": "Name", "type": '
        '"string"}}}}, "required": ["arguments", "name"], "title": "FunctionCall", "type": "object"}}',
        "For each function call return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags as follows: <tool_call> {{"arguments": <args-dict>, "name": '
        "<function-name>}} </tool_call>",
        "Please also summarize texts wrapped between <tool_response> and </tool_response> in bullet "
        'points. For example: <tool_response> {{"fruits": [{{"name": "Apple"}}, {{"name": "Pear"}}]}} '
        "</tool_response> is summarized as: Fruits: - Apple - Pear",
    ]
)
