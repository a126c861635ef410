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


def test_the_replay_asks_the_grammar_again_only_where_a_token_leaves_the_forced_string(tiny_tokenizer):
    """The same flags as asking the grammar's jump-forward string before every token, on
    answers spelled canonically and one byte a token (a token inside and across forced text)."""
    from schemas.examples.news import NewsHeadlines
    from schemas.record_schema import RecordSchema

    grammar = replay(tiny_tokenizer, RecordSchema.from_model(NewsHeadlines).constraint_parameters)

    def asked_every_token(ids):
        matcher = grammar._xgr.GrammarMatcher(grammar.grammar, terminate_without_stop_token=True)
        flags = []
        for token in ids:
            ahead = matcher.find_jump_forward_string().encode()
            flags.append(bool(ahead) and ahead.startswith(grammar.token_bytes[token]))
            assert matcher.accept_token(token)
        return flags

    answers = []
    for city, titles in (("Lyon", ["Port reopens", "Vote due"]), ("São Paulo", []), ("Oslo", ["A" * 80, "b", "c"])):
        args = {"city": city, "country": "X", "headlines": [{"title": t, "topic": "sports"} for t in titles]}
        answers.append(json.dumps({"name": "rec", "arguments": args}, separators=(",", ":"), ensure_ascii=False))
    byte_ids = {piece: i for i, piece in enumerate(grammar.token_bytes) if len(piece) == 1}
    for text in answers:
        spelled = [content_token_ids(tiny_tokenizer, [text])[0]]
        if all(bytes([b]) in byte_ids for b in text.encode()):
            spelled.append([byte_ids[bytes([b])] for b in text.encode()])
        for ids in spelled:
            assert grammar.forced(ids) == asked_every_token(ids)
            assert any(grammar.forced(ids)) and not all(grammar.forced(ids))
    assert all(bytes([b]) in byte_ids for b in answers[0].encode()), "one answer is spelled a byte a token"


def test_label_distribution_sums_to_one_and_the_choice_is_the_argmax_at_temperature_zero():
    probs = label_distribution({"a": math.log(0.2), "b": math.log(0.05), "c": -math.inf})
    assert sum(probs.values()) == pytest.approx(1.0) and probs == pytest.approx({"a": 0.8, "b": 0.2, "c": 0.0})
    assert choose_label(probs, temperature=0.0, seed=0, prompt_ids=[1, 2]) == "a"
    draws = [choose_label(probs, temperature=1.0, seed=s, prompt_ids=[1, 2]) for s in range(400)]
    assert 0.7 < draws.count("a") / 400 < 0.9 and "c" not in draws
    assert choose_label(probs, temperature=1.0, seed=7, prompt_ids=[1, 2]) == choose_label(
        probs, temperature=1.0, seed=7, prompt_ids=[1, 2]), "a re-run draws the same"


def test_label_scoring_plan_shares_the_prefix_and_ends_each_path_at_its_closing_quote(tiny_tokenizer):
    labels = ["pol", "politics", "sports", "polka dots", "polka band"]
    schema = label_record_schema(labels)
    grammar = GrammarReplay(tiny_tokenizer, len(tiny_tokenizer),
                            tool_call_json_schema(name="record_label", parameters=schema.constraint_parameters))
    opening = '{"name":"record_label","arguments":{"label":"'
    plan = plan_scoring(tiny_tokenizer, grammar, opening, labels)
    for label in labels:
        tokens = plan.context + plan.paths[label]
        assert tiny_tokenizer.decode(tokens) == opening + label
        assert all(grammar.token_bytes[t].startswith(b'"') for t in plan.closings[label])
    # A request only where the paths part: each asked node has two ways on or more, and
    # every way on from it (a path's next token, a closing of a label that ends there) is asked.
    for node, asked in plan.asks.items():
        ways = {path[len(node)] for path in plan.paths.values() if path[:len(node)] == node and len(path) > len(node)}
        ends = [label for label, path in plan.paths.items() if path == node]
        assert len(ways) + len(ends) >= 2
        assert set(asked) == ways | {t for label in ends for t in plan.closings[label]}
    assert len(plan.asks) < sum(len(path) + 1 for path in plan.paths.values()), "forced steps are not asked"
    # Given every asked token's log-probability, the labels' probabilities sum to 1.
    answers = {node: {token: -0.5 * i for i, token in enumerate(asked)} for node, asked in plan.asks.items()}
    assert sum(math.exp(v) for v in path_logprobs(plan, answers).values()) == pytest.approx(1.0)


def test_a_label_path_is_the_product_of_its_normalized_ways_on_where_the_paths_part():
    """A = (1, 2), B = (1, 3), C = (4,): a request at the root and at (1,); the rest is forced."""
    from operators.label_scoring import ScoringPlan

    plan = ScoringPlan(context=(), paths={"A": (1, 2), "B": (1, 3), "C": (4,)},
                       closings={"A": (10,), "B": (11, 12), "C": (13,)}, asks={(): (1, 4), (1,): (2, 3)})
    answers = {(): {1: math.log(0.33), 4: math.log(0.27)}, (1,): {2: math.log(0.2), 3: math.log(0.2)}}
    probs = {label: math.exp(lp) for label, lp in path_logprobs(plan, answers).items()}
    assert probs == pytest.approx({"A": 0.55 * 0.5, "B": 0.55 * 0.5, "C": 0.45})
    # Free greedy decoding takes token 1 first (0.33 > 0.27), so A or B; over the whole paths C is the most probable.
    assert choose_label(label_distribution(path_logprobs(plan, answers)), temperature=0.0, seed=0, prompt_ids=[]) == "C"
    # A label that ends where another goes on ("pos", "positive"): its closing tokens are one way on.
    ends = ScoringPlan(context=(5,), paths={"pos": (), "positive": (6,)}, closings={"pos": (10, 11), "positive": (12,)},
                       asks={(): (6, 10, 11)})
    probs = path_logprobs(ends, {(): {6: math.log(0.2), 10: math.log(0.1), 11: math.log(0.1)}})
    assert {label: math.exp(lp) for label, lp in probs.items()} == pytest.approx({"pos": 0.5, "positive": 0.5})


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
