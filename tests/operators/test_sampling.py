"""The sampling arguments every mode's generations get: no K2 tag, BOS, unk or pad can
be sampled (the ids each generation names for the engine's tag mask), EOS can; a constrained answer has no stop strings (it ends where its grammar
ends or at max_tokens); the summary keeps only the tags that end a turn."""

from types import SimpleNamespace

import pytest

from operators import k2_format as k2
from operators import sampling
from operators.k2_engine import with_ends
from schemas.examples.company_news import CompanyNews
from schemas.labels import label_record_schema
from schemas.record_schema import RecordSchema
from schemas.tool_call import tool_call_json_schema

SETTINGS = dict(max_tokens=64, temperature=0.0, seed=0)
MODES = {
    "extract": RecordSchema.from_model(CompanyNews),
    "label": label_record_schema(["good", "bad"], rationale=True),
    "summarize": RecordSchema.from_model(CompanyNews),  # the extraction turn before the summary
}


def tag_ids(tokenizer) -> dict[str, int]:
    return {tag: tokenizer.convert_tokens_to_ids(tag) for tag in (*k2.SPECIAL_TAGS, "<s>", "<unk>")}


@pytest.mark.parametrize("mode", MODES)
def test_every_constrained_answer_excludes_every_tag_and_keeps_eos(mode, tiny_tokenizer):
    constraint = tool_call_json_schema(name="record", parameters=MODES[mode].json_schema)
    params = sampling.sampling_params(sampling.answer_sampling(tiny_tokenizer, len(tiny_tokenizer), constraint=constraint,
                                                               **SETTINGS))
    masked = set(params.extra_args[sampling.MASKED_IDS_ARG])
    assert set(tag_ids(tiny_tokenizer).values()) <= masked, "a K2 tag, BOS or unk can be sampled"
    assert tiny_tokenizer.pad_token_id in masked
    assert tiny_tokenizer.eos_token_id not in masked, "EOS ends the answer where the grammar ends"
    assert params.allowed_token_ids is None, "the mask names the few ids it takes out, not the vocabulary"
    assert params.stop == [] and not params.stop_token_ids, "only the grammar's end or max_tokens ends an answer"
    assert params.structured_outputs.json == constraint
    assert masked == set(tag_ids(tiny_tokenizer).values()) | {tiny_tokenizer.pad_token_id}, "every ordinary token stays allowed"


def test_the_summary_keeps_only_the_tags_that_end_it(tiny_tokenizer):
    params = sampling.sampling_params(sampling.summary_sampling(tiny_tokenizer, len(tiny_tokenizer), **SETTINGS))
    masked = set(params.extra_args[sampling.MASKED_IDS_ARG])
    ends = {tiny_tokenizer.convert_tokens_to_ids(tag) for tag in sampling.SUMMARY_ENDS}
    assert {tag for tag, i in tag_ids(tiny_tokenizer).items() if i not in masked} == set(sampling.SUMMARY_ENDS)
    assert set(params.stop_token_ids) == ends and tiny_tokenizer.eos_token_id not in masked
    assert params.skip_special_tokens, "the token that ends the summary is not part of it"


def test_ids_past_the_tokenizer_are_never_sampled(tiny_tokenizer):
    # A model whose embedding is padded past the tokenizer (vocab 32032 for K2 is one such size).
    padded = len(tiny_tokenizer) + 64
    assert set(range(len(tiny_tokenizer), padded)) <= set(sampling.never_sampled(tiny_tokenizer, padded))
    assert max(sampling.never_sampled(tiny_tokenizer, 100)) < 100, "every masked id is a row of the model's logits"


def test_a_reject_error_says_how_each_attempt_ended():
    outputs = [SimpleNamespace(finish_reason="stop", stop_reason=None, token_ids=[5] * 43),
               SimpleNamespace(finish_reason="length", stop_reason=None, token_ids=[5] * 192),
               SimpleNamespace(finish_reason="stop", stop_reason=32026, token_ids=[5] * 7)]
    ends = [sampling.attempt_end(o) for o in outputs]
    assert ends == ["finish_reason=stop (eos) after 43 tokens", "finish_reason=length after 192 tokens",
                    "finish_reason=stop stop_reason=32026 after 7 tokens"]
    assert with_ends("bad", ends) == ("bad [attempt 1: finish_reason=stop (eos) after 43 tokens; attempt 2: "
                                      "finish_reason=length after 192 tokens; attempt 3: finish_reason=stop "
                                      "stop_reason=32026 after 7 tokens]")
    assert with_ends("empty", []) == "empty"
