"""The one re-ask loop: generate, judge, and on failure append a repair turn and ask
again, up to `max_attempts`. Extraction and the summary turn both run through it; what
differs (how an answer is judged, what the repair turn says) comes in as functions.

The result carries its evidence, as instructor's retries do: the value or the last
failure, the attempts spent, the tokens, and the last raw answer.
"""

from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

from operators.outcome import Failure
from operators.render_prompt import Turn
from operators.usage import Usage


@dataclass(frozen=True)
class Generation:
    """One finished generation: the answer's text and tokens, how it ended, and how much
    of its prompt the prefix cache served."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str | None
    cached_tokens: int
    end: str = ""  # how it ended, as a reject's error shows it (operators/sampling.py attempt_end)
    # task.confidence (operators/confident_answer.py): each token's log-probability, the
    # answer's Confidence, and what the answer cost when that is not this one request
    # (label scoring's requests besides it, or instead of it).
    logprobs: tuple[float, ...] | None = None
    confidence: Any = None
    usage: Usage | None = None

    def spent(self, prompt_ids: list[int]) -> Usage:
        """The tokens this answer cost, asked with `prompt_ids`."""
        if self.usage is not None:
            return self.usage
        return Usage(len(prompt_ids), len(self.token_ids), self.cached_tokens)


@dataclass(frozen=True)
class Attempts:
    """What one turn's attempts came to: `value` (a record, a summary) or `failure`."""

    value: Any = None
    failure: Failure | None = None
    attempts: int = 0
    usage: Usage = Usage()
    raw_output: str | None = None  # the last answer as generated (with its prime)
    last_cached_tokens: int | None = None  # the last generation's prefix-cache hit
    turns: tuple[Turn, ...] = ()  # the conversation, ending with the last repair turn if any
    ends: tuple[str, ...] = ()  # how each generation ended, in order
    confidence: Any = None  # the kept answer's Confidence (task.confidence), else None

    def then(self, later: "Attempts") -> "Attempts":
        """This turn followed by a later one of the same row: totals add up, the later
        turn's outcome stands, and its raw answer if it generated one."""
        return replace(
            later, attempts=self.attempts + later.attempts, usage=self.usage + later.usage,
            raw_output=later.raw_output if later.raw_output is not None else self.raw_output,
            ends=self.ends + later.ends, confidence=later.confidence if later.confidence is not None else self.confidence,
        )


Generate = Callable[[list[int]], Awaitable["Generation | Failure"]]
Judge = Callable[[Generation], tuple[Failure | None, Any]]
Repair = Callable[[Generation, Failure, Any], list[Turn]]
Fit = Callable[[list[Turn]], "list[int] | None"]


async def reask(generate: Generate, *, turns: list[Turn], prompt_ids: list[int] | None, fit: Fit, judge: Judge,
                repair: Repair, max_attempts: int, prime: str = "", no_room: Failure) -> Attempts:
    """Ask until `judge` accepts an answer or `max_attempts` generations are spent.

    `prompt_ids` is the first attempt's prompt (None: render `turns` with `fit`); each
    re-ask renders the grown conversation with `fit`, which returns None when it leaves no
    room for an answer: then the last failure stands, or `no_room` if there was none.
    An engine error ends the loop at once (a re-ask would meet the same refusal).
    """
    result = Attempts(turns=tuple(turns))
    failure = None
    for _ in range(max_attempts):
        if prompt_ids is None:
            prompt_ids = fit(list(result.turns))
            if prompt_ids is None:
                return replace(result, failure=failure or no_room)
        generated = await generate(prompt_ids)
        result = replace(result, attempts=result.attempts + 1)
        if isinstance(generated, Failure):
            return replace(result, failure=generated)
        result = replace(
            result, usage=result.usage + generated.spent(prompt_ids),
            raw_output=prime + generated.text, last_cached_tokens=generated.cached_tokens,
            ends=(*result.ends, generated.end),
        )
        failure, value = judge(generated)
        if failure is None:
            return replace(result, value=value, failure=None, confidence=generated.confidence)
        result = replace(result, turns=(*result.turns, *repair(generated, failure, value)))
        prompt_ids = None
    return replace(result, failure=failure)
