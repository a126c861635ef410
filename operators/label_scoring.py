"""Label mode's scoring: the probability of every declared label under the label set's
constraint, judged by each label's whole token path, so that labels sharing their first
tokens are told apart by where they part (free greedy decoding judges by the first step
alone).

Each label's answer text up to its value (`...{"label":"` + the label) is tokenized the
way a prompt is (canonically); the tokens all labels share are the context, and the
labels' remaining tokens form a tree. A label's path ends with any token the grammar
allows to close its string (`"`, `"}`, ...: operators/grammar_replay.py), so a label that
is a prefix of another ("pos", "positive") is judged by where it ends.

Decoding under the constraint, a node of the tree with one way on (one next token, or
only a label's closing) is forced: its step has probability 1 and costs no request. At
a node where the paths part, one engine request on the prompt plus the node's tokens
asks for the log-probabilities of the ways on (vLLM's `logprob_token_ids`, one step,
greedy, no grammar: the model's own distribution), and they are normalized over those
ways. A label's probability is the product along its path; the shared prompt is a
prefix-cache hit. Five labels with distinct first tokens cost one request.
"""

import json
import math
from dataclasses import dataclass
from typing import Awaitable, Callable

from operators.confidence import logsumexp
from operators.grammar_replay import GrammarReplay
from operators.render_prompt import content_token_ids
from operators.usage import Usage

Node = tuple[int, ...]  # a label path's tokens after the shared context
# The engine call: log-probabilities of `token_ids` as the next token after `prompt_ids`.
Ask = Callable[[list[int], list[int]], Awaitable[tuple[dict[int, float], Usage]]]


class LabelScoringError(ValueError):
    """A declared label cannot be scored: the grammar does not let its string end."""


class LabelScoringRefused(Exception):
    """The engine refused a scoring request (`failure` says why): the attempt fails with it."""

    def __init__(self, failure):
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True)
class ScoringPlan:
    context: Node  # answer tokens every label path shares, after the prompt
    paths: dict[str, Node]  # each label's tokens after the context
    closings: dict[str, tuple[int, ...]]  # the tokens that close each label's string
    # Per tree node where the paths part, the next tokens whose log-probabilities are
    # asked: every way on from there (the next tokens of the paths that continue, the
    # closing tokens of a label that ends there). A node not here has one way on.
    asks: dict[Node, tuple[int, ...]]


def answer_label_text(label: str) -> str:
    """A label as the decoder writes it inside its JSON string (escaped, no quotes)."""
    return json.dumps(label, ensure_ascii=False)[1:-1]


def plan_scoring(tokenizer, replay: GrammarReplay, answer_prefix: str, labels: list[str]) -> ScoringPlan:
    """The scoring of `labels` after `answer_prefix` (the answer up to the label's opening quote)."""
    texts = [answer_prefix + answer_label_text(label) for label in labels]
    tokens = [tuple(ids) for ids in content_token_ids(tokenizer, texts)]
    shared = 0
    while all(len(seq) > shared for seq in tokens) and len({seq[shared] for seq in tokens}) == 1:
        shared += 1
    paths = {label: seq[shared:] for label, seq in zip(labels, tokens)}
    closings = {}
    for label, text in zip(labels, texts):
        closings[label] = tuple(replay.closing_tokens(text))
        if not closings[label]:
            raise LabelScoringError(f"task.labels: the grammar does not end the label {label!r} where it is written "
                                    f"({text[-60:]!r}): it cannot be scored")
    ways: dict[Node, dict[object, tuple[int, ...]]] = {}  # node -> each way on (a token, or a label's closing) -> tokens
    for label, path in paths.items():
        for depth, token in enumerate(path):
            ways.setdefault(path[:depth], {})[token] = (token,)
        ways.setdefault(path, {})[("end", label)] = closings[label]
    asks = {node: tuple(sorted({t for tokens in on.values() for t in tokens})) for node, on in ways.items() if len(on) > 1}
    return ScoringPlan(context=tokens[0][:shared], paths=paths, closings=closings, asks=asks)


def path_logprobs(plan: ScoringPlan, answers: dict[Node, dict[int, float]]) -> dict[str, float]:
    """Each label's log-probability under the constraint: at every node of its path where
    the paths part, its way on (its next token, or any token closing its string)
    normalized over all the ways on there; a node with one way on adds nothing."""
    scores = {}
    for label, path in plan.paths.items():
        total = 0.0
        for depth in range(len(path) + 1):
            node = path[:depth]
            if node not in plan.asks:
                continue
            ways = [answers[node][token] for token in plan.asks[node]]
            taken = [answers[node][path[depth]]] if depth < len(path) else [answers[node][t] for t in plan.closings[label]]
            # A node the model gives no mass at all passes none on (label_distribution then spreads it evenly).
            norm = logsumexp(ways)
            total += logsumexp(taken) - norm if norm != -math.inf else -math.inf
        scores[label] = total
    return scores


async def score_labels(ask: Ask, plan: ScoringPlan, prompt_ids: list[int]) -> tuple[dict[str, float], Usage]:
    """Every label's path log-probability after `prompt_ids`, and the tokens the asks cost."""
    import asyncio

    nodes = list(plan.asks)
    results = await asyncio.gather(*(ask([*prompt_ids, *plan.context, *node], list(plan.asks[node])) for node in nodes))
    answers = {node: logprobs for node, (logprobs, _) in zip(nodes, results)}
    return path_logprobs(plan, answers), Usage.total(usage for _, usage in results)
