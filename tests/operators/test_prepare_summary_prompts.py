"""PrepareSummaryPrompts: the row's prompt then its JSON column as a tool response; bad JSON,
blank values and overflow become rejects before the engine."""

import pandas as pd

from operators.engine_settings import PromptSettings
from operators.prepare_summary_prompts import PrepareSummaryPrompts
from operators.render_prompt import Turn, render, to_token_ids


def stage(tiny_model, max_model_len=512):
    return PrepareSummaryPrompts(response_column="details", prompts=PromptSettings(
        id_column="id", prompt="Summarize order {customer}", prompt_columns=["customer"], system_prompt="SYS {tools}",
        prime="", tokenizer_source=str(tiny_model), tokenizer_revision=None, max_model_len=max_model_len, max_tokens=64))


def batch(details):
    return pd.DataFrame({"id": [f"o{i}" for i in range(len(details))], "_unit": "u", "customer": "Ann", "details": details})


def test_valid_json_becomes_the_tool_response_turn(tiny_model, tiny_tokenizer):
    out = stage(tiny_model)(batch(['{"total": 3}']))
    assert out.loc[0, "_response_json"] == '{"total": 3}' and out.loc[0, "_reject_reason"] is None
    expected = render("SYS {tools}", [Turn("user", "Summarize order Ann"), Turn("tool_response", '{"total": 3}')])
    assert list(out.loc[0, "_prompt_ids"]) == to_token_ids(expected, tiny_tokenizer)


def test_bad_json_and_blank_values_are_rejects_naming_the_row(tiny_model):
    out = stage(tiny_model)(batch(["{not json", "  ", '{"ok": 1}']))
    assert out.loc[0, "_reject_reason"] == "invalid_json" and "'details' of row 'o0'" in out.loc[0, "_reject_message"]
    assert out.loc[1, "_reject_reason"] == "empty_input"
    assert pd.isna(out.loc[2, "_reject_reason"])


def test_a_json_too_long_for_the_budget_is_prompt_too_long(tiny_model):
    out = stage(tiny_model, max_model_len=120)(batch(['{"items": "' + "word " * 200 + '"}']))
    assert out.loc[0, "_reject_reason"] == "prompt_too_long" and "'details'" in out.loc[0, "_reject_message"]
