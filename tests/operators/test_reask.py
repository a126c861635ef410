"""The re-ask loop's branches with a queue-driven fake engine: each call takes the next
scripted answer (real-engine runs are in tests/operators/test_k2_engine.py and the e2e tests)."""

import asyncio

from operators.outcome import Failure
from operators.reask import Attempts, Generation, reask
from operators.usage import Usage
from operators.render_prompt import Turn


class FakeEngine:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    async def __call__(self, prompt_ids):
        self.prompts.append(list(prompt_ids))
        answer = self.answers.pop(0)
        if isinstance(answer, Failure):
            return answer
        return Generation(text=answer, token_ids=(1,) * len(answer), finish_reason="stop", cached_tokens=2,
                          end=f"end {answer}")


def judge(out):
    return (None, out.text) if out.text.startswith("ok") else (Failure("schema_invalid", f"bad {out.text}"), None)


def repair(out, failure, value):
    return [Turn("tool_call", out.text), Turn("user", failure.message)]


def run(engine, *, fit=lambda turns: [9] * len(turns), max_attempts=3, prompt_ids=(7, 7)):
    return asyncio.run(reask(engine, turns=[Turn("user", "q")], prompt_ids=list(prompt_ids) if prompt_ids else None,
                             fit=fit, judge=judge, repair=repair, max_attempts=max_attempts, prime="<p>",
                             no_room=Failure("prompt_too_long", "no room")))


def test_a_first_valid_answer_is_the_value():
    result = run(FakeEngine("ok1"))
    assert (result.value, result.failure, result.attempts) == ("ok1", None, 1)
    assert result.usage == Usage(prompt_tokens=2, completion_tokens=3, cached_prompt_tokens=2)
    assert result.raw_output == "<p>ok1" and result.ends == ("end ok1",)


def test_an_invalid_answer_is_re_asked_with_the_repair_turn():
    engine = FakeEngine("no1", "ok2")
    result = run(engine)
    assert (result.value, result.attempts) == ("ok2", 2)
    assert engine.prompts == [[7, 7], [9, 9, 9]], "the re-ask renders the conversation grown by the repair turns"
    assert result.turns == (Turn("user", "q"), Turn("tool_call", "no1"), Turn("user", "bad no1"))


def test_attempts_run_out_with_the_last_failure_and_answer():
    result = run(FakeEngine("no1", "no2", "no3"))
    assert result.failure == Failure("schema_invalid", "bad no3")
    assert (result.attempts, result.value, result.raw_output) == (3, None, "<p>no3")
    assert result.ends == ("end no1", "end no2", "end no3"), "how each attempt ended, for the reject's error"


def test_an_engine_error_ends_the_loop_at_once():
    result = run(FakeEngine("no1", Failure("engine_error", "boom"), "ok3"))
    assert result.failure.reason == "engine_error" and result.attempts == 2
    assert result.raw_output == "<p>no1", "the last answer generated stays as evidence"


def test_no_room_to_re_ask_keeps_the_last_failure():
    result = run(FakeEngine("no1", "ok2"), fit=lambda turns: None)
    assert result.failure == Failure("schema_invalid", "bad no1") and result.attempts == 1


def test_no_room_for_the_first_attempt_is_the_no_room_failure():
    engine = FakeEngine("ok1")
    result = run(engine, fit=lambda turns: None, prompt_ids=None)
    assert result.failure.reason == "prompt_too_long" and result.attempts == 0 and engine.prompts == []


def test_then_adds_totals_and_keeps_the_later_outcome():
    first = Attempts(value={"a": 1}, attempts=2, usage=Usage(prompt_tokens=10, completion_tokens=4), raw_output="x", ends=("e1", "e2"))
    later = Attempts(failure=Failure("summary_empty", "blank"), attempts=1, usage=Usage(prompt_tokens=20, completion_tokens=1),
                     ends=("e3",))
    combined = first.then(later)
    assert (combined.attempts, combined.usage) == (3, Usage(prompt_tokens=30, completion_tokens=5))
    assert combined.failure.reason == "summary_empty" and combined.raw_output == "x"
    assert combined.ends == ("e1", "e2", "e3")
