"""Confidence's pure parts without an engine: where each argument's value lies in an
answer, a field's probability from its tokens (forced text certain), the label
distribution and choice, the label-scoring plan on the tiny tokenizer and its grammar,
and the writer's histogram with the quantiles and review count read from it."""

import json
import math

import pytest

from operators.answer_spans import argument_spans
from operators.confidence import TokenTrace, choose_label, field_confidence, label_distribution
from operators.grammar_replay import GrammarReplay
from operators.label_scoring import path_logprobs, plan_scoring
from operators.record_confidence import confidence_bucket, quantiles, rows_below
from operators.render_prompt import content_token_ids
from schemas.labels import label_record_schema
from schemas.tool_call import tool_call_json_schema

CALL = '{"name":"rec","arguments":{"x":"only","y":"a\\"b","z":[1,{"k":"}"}]}}'


def test_argument_spans_find_each_value_even_with_braces_and_quotes_in_strings():
    spans = argument_spans(CALL)
    assert {name: CALL[b:e] for name, (b, e) in spans.items()} == {"x": '"only"', "y": '"a\\"b"', "z": '[1,{"k":"}"}]'}
    assert argument_spans('{"name":"rec","arguments":{"x":"cut') is None
    assert argument_spans('{"name":"rec"}') is None


def replay(tiny_tokenizer, parameters: dict) -> GrammarReplay:
    return GrammarReplay(tiny_tokenizer, len(tiny_tokenizer), tool_call_json_schema(name="rec", parameters=parameters))


ONE_VALUE = {"type": "object", "properties": {"x": {"enum": ["only"]}, "y": {"type": "string", "maxLength": 5}},
             "required": ["x", "y"], "additionalProperties": False}


def test_a_field_the_grammar_forces_is_certain_and_a_free_one_is_the_product_of_its_tokens(tiny_tokenizer):
    grammar = replay(tiny_tokenizer, ONE_VALUE)
    text = '{"name":"rec","arguments":{"x":"only","y":"ab"}}'
    ids = content_token_ids(tiny_tokenizer, [text])[0]
    forced = grammar.forced(ids)
    pieces = [grammar.token_bytes[i] for i in ids]
    logprobs = [-0.1] * len(ids)  # every token some doubt: only the grammar makes x certain
    confidence = field_confidence(TokenTrace(pieces, logprobs, forced))
    assert confidence.field_confidence["x"] == 1.0
    # y's value `"ab"`: its free tokens (the letters and the closing quote) count, the forced opening quote does not.
    free = sum(1 for piece, f in zip(pieces, forced) if not f and piece in (b"a", b"b", b'"', b"ab"))
    assert free >= 2 and confidence.field_confidence["y"] == pytest.approx(math.exp(-0.1 * free))
    assert confidence.value == confidence.field_confidence["y"] < 1.0
    assert grammar.forced(content_token_ids(tiny_tokenizer, ['{"name":"other"'])[0]) is None, "not this grammar"


def test_label_distribution_sums_to_one_and_the_choice_is_the_argmax_at_temperature_zero():
    probs = label_distribution({"a": math.log(0.2), "b": math.log(0.05), "c": -math.inf})
    assert sum(probs.values()) == pytest.approx(1.0) and probs == pytest.approx({"a": 0.8, "b": 0.2, "c": 0.0})
    assert choose_label(probs, temperature=0.0, seed=0, prompt_ids=[1, 2]) == "a"
    draws = [choose_label(probs, temperature=1.0, seed=s, prompt_ids=[1, 2]) for s in range(400)]
    assert 0.7 < draws.count("a") / 400 < 0.9 and "c" not in draws
    assert choose_label(probs, temperature=1.0, seed=7, prompt_ids=[1, 2]) == choose_label(
        probs, temperature=1.0, seed=7, prompt_ids=[1, 2]), "a re-run draws the same"


def test_label_scoring_plan_shares_the_prefix_and_ends_each_path_at_its_closing_quote(tiny_tokenizer):
    labels = ["pol", "politics", "sports"]
    schema = label_record_schema(labels)
    grammar = GrammarReplay(tiny_tokenizer, len(tiny_tokenizer),
                            tool_call_json_schema(name="record_label", parameters=schema.constraint_parameters))
    opening = '{"name":"record_label","arguments":{"label":"'
    plan = plan_scoring(tiny_tokenizer, grammar, opening, labels)
    for label in labels:
        tokens = plan.context + plan.paths[label]
        assert tiny_tokenizer.decode(tokens) == opening + label
        assert all(grammar.token_bytes[t].startswith(b'"') for t in plan.closings[label])
    # Given every asked token's log-probability, a label's score is its path then its closing.
    answers = {node: {token: -1.0 for token in asked} for node, asked in plan.asks.items()}
    scores = path_logprobs(plan, answers)
    assert scores == {label: -(len(plan.paths[label]) + 1) + math.log(len(plan.closings[label])) for label in labels}


def test_the_histogram_gives_the_quantiles_and_the_rows_below_the_review_threshold():
    values = [i / 1000 for i in range(1000)]  # uniform on [0, 1)
    histogram = {}
    for value in values:
        histogram[confidence_bucket(value)] = histogram.get(confidence_bucket(value), 0) + 1
    assert confidence_bucket(0.29) == 29 and confidence_bucket(1.0) == 99
    assert rows_below(histogram, 0.5) == sum(v < 0.5 for v in values) == 500
    found = quantiles(histogram, (0.05, 0.5, 0.95))
    assert found == pytest.approx({"p05": 0.05, "p50": 0.5, "p95": 0.95}, abs=0.01)
    assert json.dumps(found)  # summary.json holds them as they are
