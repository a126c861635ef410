"""Confidence as pure functions: an extracted field's probability from its tokens, a
distribution over declared labels from their token paths' log-probabilities, and the
label chosen from it. The engine calls (operators/k2_engine.py, operators/label_scoring.py)
supply the numbers; what the numbers mean is docs/confidence.md.
"""

import hashlib
import math
import random
from dataclasses import dataclass, field

from operators.answer_spans import argument_spans


@dataclass(frozen=True)
class Confidence:
    """What one kept answer reports: `_confidence`, and per label (label mode) or per
    top-level field (extract) the probabilities it comes from."""

    value: float | None
    label_probs: dict[str, float] | None = None
    field_confidence: dict[str, float] | None = None


@dataclass(frozen=True)
class TokenTrace:
    """A generated answer's tokens as the decoder wrote them: their bytes, the
    log-probability of each under the decoder's distribution, and whether the grammar
    forced its text (operators/grammar_replay.py)."""

    pieces: list[bytes] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    forced: list[bool] = field(default_factory=list)


def field_confidence(trace: TokenTrace) -> Confidence | None:
    """Per top-level argument, the probability of the tokens that wrote its value (every
    token holding a byte of the value's JSON text, a string's quotes included), text the
    grammar forced counting as certain; `value` is the lowest. None if the tokens do not
    spell one call object (nothing to attribute)."""
    try:
        text = b"".join(trace.pieces).decode("utf-8")
    except UnicodeDecodeError:
        return None
    spans = argument_spans(text)
    if spans is None:
        return None
    ends, at = [], 0
    for piece in trace.pieces:
        at += len(piece)
        ends.append(at)
    per_field = {}
    for name, (begin, end) in spans.items():
        first, last = len(text[:begin].encode()), len(text[:end].encode())
        total = 0.0
        for token_end, piece, logprob, forced in zip(ends, trace.pieces, trace.logprobs, trace.forced):
            if token_end > first and token_end - len(piece) < last and not forced:
                total += logprob
        per_field[name] = min(1.0, math.exp(total))
    return Confidence(value=min(per_field.values()) if per_field else None, field_confidence=per_field)


def logsumexp(values: list[float]) -> float:
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


def label_distribution(path_logprobs: dict[str, float]) -> dict[str, float]:
    """Each label's path log-probability normalized over the declared labels (sums to 1).
    Labels the model gives no mass at all share it evenly only if every label has none."""
    norm = logsumexp(list(path_logprobs.values()))
    if norm == -math.inf:
        return {label: 1.0 / len(path_logprobs) for label in path_logprobs}
    return {label: math.exp(lp - norm) if lp != -math.inf else 0.0 for label, lp in path_logprobs.items()}


def choose_label(probs: dict[str, float], *, temperature: float, seed: int, prompt_ids: list[int]) -> str:
    """At temperature 0 the most probable label (the first declared among equals); above
    it a draw from the distribution raised to 1/temperature, seeded by the job's seed
    and the row's prompt so that a re-run draws the same."""
    labels = list(probs)
    if temperature <= 0:
        return max(labels, key=lambda label: probs[label])
    digest = hashlib.blake2b(repr((seed, prompt_ids)).encode(), digest_size=8).digest()
    top = max(probs.values())
    # In ratios to the most probable label: p ** (1 / temperature) underflows for small temperatures.
    weights = [(probs[label] / top) ** (1.0 / temperature) for label in labels]
    return random.Random(int.from_bytes(digest, "big")).choices(labels, weights=weights)[0]
