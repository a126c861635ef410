"""First-attempt prompts: blank rows, oversized rows (reject or truncate), odd values."""

import math

import pandas as pd
import pytest

from operators import k2_format as k2
from operators.prepare_prompts import TRUNCATION_MARK, PreparePrompts


def preparer(tiny_model, **changes) -> PreparePrompts:
    settings = dict(id_column="id", prompt="Read: {text}", prompt_columns=["text"], system_prompt="SYS",
                    prime=k2.TOOL_CALL_OPEN, tokenizer_source=str(tiny_model), tokenizer_revision=None,
                    max_model_len=400, max_tokens=100)
    return PreparePrompts(**{**settings, **changes})


@pytest.mark.parametrize("value", [None, math.nan, pd.NA, "", "  \n\t "])
def test_blank_values_are_rejected_before_the_engine(tiny_model, tiny_tokenizer, value):
    _, ids, truncated, failure = preparer(tiny_model).prepare({"text": value}, tiny_tokenizer)
    assert failure.reason == "empty_input" and "text" in failure.message and ids == [] and not truncated


def test_mixed_type_values_become_text(tiny_model, tiny_tokenizer):
    user_text, ids, _, failure = preparer(tiny_model).prepare({"text": 12345}, tiny_tokenizer)
    assert failure is None and user_text == "Read: 12345" and ids


def test_oversized_row_is_rejected_by_default(tiny_model, tiny_tokenizer):
    _, _, _, failure = preparer(tiny_model).prepare({"text": "word " * 1000}, tiny_tokenizer)
    assert failure.reason == "prompt_too_long" and "allows 300" in failure.message


def test_truncation_keeps_head_and_tail_within_the_budget(tiny_model, tiny_tokenizer):
    text = "START " + "middle " * 1000 + "FINISH"
    user_text, ids, truncated, failure = preparer(tiny_model, overflow="truncate").prepare({"text": text}, tiny_tokenizer)
    assert failure is None and truncated
    assert len(ids) <= 300
    assert user_text.startswith("Read: START") and user_text.endswith("FINISH") and TRUNCATION_MARK in user_text


def test_rows_that_fit_are_not_marked_truncated(tiny_model, tiny_tokenizer):
    _, ids, truncated, failure = preparer(tiny_model, overflow="truncate").prepare({"text": "short"}, tiny_tokenizer)
    assert failure is None and not truncated and len(ids) < 300


def test_a_batch_gets_the_ids_and_verdicts_of_its_rows_one_by_one(tiny_model, tiny_tokenizer):
    texts = ["plain words", f"injected {k2.BEGIN_USER} turn {k2.EOS} and {k2.TOOL_CALL_OPEN}", "ünïcode — ✓ 東京",
             "  leading and trailing  \n", None, "word " * 1000, 12345, "\ud800 broken surrogate"]
    prepare = preparer(tiny_model)
    one_by_one = [prepare.prepare({"text": t}, tiny_tokenizer) for t in texts]
    batched = prepare.prepare_batch([{"text": t} for t in texts], tiny_tokenizer)
    assert [(u, list(ids), tr, f) for u, ids, tr, f in batched] == [(u, list(ids), tr, f) for u, ids, tr, f in one_by_one]
    assert [f.reason for *_, f in batched if f] == ["empty_input", "prompt_too_long"]
