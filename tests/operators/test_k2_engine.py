"""The engine actor's loop with a real vLLM engine in this process: re-asking on
invalid answers, and per-row isolation when the engine refuses one request."""

import asyncio
import os
from dataclasses import replace

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jobs.plan.settings_from_spec import engine_settings, sampling_settings
from jobs.spec import JobSpec
from operators import k2_format as k2
from operators.engine_settings import TaskSettings
from operators.k2_engine import K2Engine
from operators.prepare_prompts import PreparePrompts
from schemas.record_schema import RecordSchema
from tests.operators.in_process_engine import shut_down

pytestmark = pytest.mark.engine


class NeverValid(BaseModel):
    """Decodable under the constraint, refused by validation: every answer is re-asked."""

    model_config = ConfigDict(extra="forbid")
    word: str = Field(max_length=8)

    @field_validator("word")
    @classmethod
    def _refuse(cls, word: str) -> str:
        raise ValueError("this schema accepts no word")


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")
    word: str = Field(max_length=8)


@pytest.fixture(scope="module")
def spec(tiny_model):
    from tests.conftest import job_spec

    return JobSpec.model_validate(job_spec(model={"source": str(tiny_model), "max_model_len": 512, "max_tokens": 64,
                                                  "max_attempts": 3}))


def batch_for(tiny_model, texts: list[str]) -> pd.DataFrame:
    prepare = PreparePrompts(id_column="id", prompt="Say: {text}", prompt_columns=["text"], system_prompt="SYS",
                             prime=k2.TOOL_CALL_OPEN, tokenizer_source=str(tiny_model), tokenizer_revision=None,
                             max_model_len=512, max_tokens=64)
    return prepare(pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "_unit": "u", "text": texts}))


class EngineInLoop:
    """The actor as Ray Data drives it: every call on one long-lived event loop (the
    engine's output handler lives on the loop of its first request)."""

    def __init__(self, actor: K2Engine):
        self.actor = actor
        self.loop = asyncio.new_event_loop()

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.loop.run_until_complete(self.actor(batch))


@pytest.fixture(scope="module")
def engine(spec, tiny_model):
    saved = dict(os.environ)  # the engine sets its CPU settings in this process's environment
    task = TaskSettings(record_schema=RecordSchema.from_model(Word), tool_name="say", system_prompt="SYS",
                        prime=k2.TOOL_CALL_OPEN, summarize=False, sampling=sampling_settings(spec))
    actor = K2Engine(engine=engine_settings(spec, str(tiny_model)), task=task)
    driven = EngineInLoop(actor)
    driven.saved_environment = saved
    yield driven
    shut_down(actor, driven.loop)
    os.environ.clear()
    os.environ.update(saved)


def test_the_engine_starts_its_processes_with_its_cpu_environment(engine):
    """The thread binding, the KV cache, the threads' wait policy and the compile mode are
    in the actor's environment, which vLLM's engine core and worker processes start from
    (their /proc environ does not show it once they have set their process titles)."""
    assert os.environ.get("OMP_WAIT_POLICY") == engine.saved_environment.get("OMP_WAIT_POLICY", "PASSIVE")
    assert os.environ.get("VLLM_USE_AOT_COMPILE") == engine.saved_environment.get("VLLM_USE_AOT_COMPILE", "0")
    wanted = engine.actor.engine_settings.environment(cpu_cores=sorted(os.sched_getaffinity(0)))
    assert {name: os.environ.get(name) for name in wanted} == wanted


def test_the_engine_computes_in_the_type_this_machines_cores_run_natively(engine):
    """model.dtype auto: bfloat16 where the cores have native bfloat16, else float32."""
    import torch

    from operators.engine_settings import cpu_has_native_bf16

    assert engine.actor.engine.model_config.dtype == (torch.bfloat16 if cpu_has_native_bf16() else torch.float32)


def test_a_row_the_engine_refuses_becomes_a_reject_and_the_batch_carries_on(engine, tiny_model):
    batch = batch_for(tiny_model, ["one", "two", "three"])
    # A prompt longer than max_model_len that slipped past the pre-check.
    batch.at[1, "_prompt_ids"] = list(batch.at[1, "_prompt_ids"]) * (600 // len(batch.at[1, "_prompt_ids"]) + 1)
    out = engine(batch)
    assert out.loc[1, "_reason"] == "engine_error" and "512" in out.loc[1, "error"]
    assert out.loc[[0, 2], "_record_json"].notna().all()
    again = engine(batch_for(tiny_model, ["four"]))
    assert again.loc[0, "_record_json"] is not None, "the engine still serves after the refused row"


def test_invalid_answers_are_re_asked_up_to_max_attempts(engine, tiny_model):
    task = engine.actor.task
    engine.actor.configure(replace(task, record_schema=RecordSchema.from_model(NeverValid)))
    try:
        out = engine(batch_for(tiny_model, ["a", "b"]))
    finally:
        engine.actor.configure(task)
    assert (out["_attempts"] == 3).all()
    assert (out["_reason"] == "schema_invalid").all()
    assert out["error"].str.contains("this schema accepts no word").all()
    # Each attempt ended where its grammar ended (EOS), and the error says so.
    assert out["error"].str.contains(r"\[attempt 1: finish_reason=stop \(eos\) after \d+ tokens; attempt 2: .*; attempt 3: ").all()
    assert out["raw_output"].str.startswith(k2.TOOL_CALL_OPEN + '{"name":"say"').all()
    assert (out["_prompt_tokens"] > 3 * len(batch_for(tiny_model, ["a"]).at[0, "_prompt_ids"])).all(), "re-asks grow the prompt"


def test_an_unprimed_prompt_still_gives_records(engine, tiny_model):
    """`task.prime_tool_call: false`: the prompt ends at the assistant tag, the model cannot
    write <tool_call> (a masked tag), and its constrained answer is the call's JSON."""
    actor = engine.actor
    task = actor.task
    actor.configure(replace(task, prime=""))
    try:
        prepare = PreparePrompts(id_column="id", prompt="Say: {text}", prompt_columns=["text"], system_prompt="SYS",
                                 prime="", tokenizer_source=str(tiny_model), tokenizer_revision=None,
                                 max_model_len=512, max_tokens=64)
        out = engine(prepare(pd.DataFrame({"id": ["r0", "r1"], "_unit": "u", "text": ["one", "two"]})))
    finally:
        actor.configure(task)
    assert out["_record_json"].notna().all(), out["error"].tolist()


def test_the_engine_masks_the_ids_a_request_names_and_no_others(engine, tiny_model):
    """K2's tag mask in the real engine (operators/tag_mask.py): the ids an answer names
    have no probability at the next token (the engine's processed log-probabilities),
    though the model gives them some; the ids it does not name keep theirs."""
    import math

    from operators.sampling import MASKED_IDS_ARG, sampling_params

    actor = engine.actor
    masked = actor.answer_params.extra_args[MASKED_IDS_ARG]
    ordinary = [i for i in range(3, 40) if i not in masked]
    prompt = [int(i) for i in batch_for(tiny_model, ["one"]).at[0, "_prompt_ids"]]
    probe = dict(max_tokens=1, temperature=0.0, logprob_token_ids=[*masked, *ordinary])

    def next_token_logprobs(extra: dict) -> dict[int, float]:
        output = engine.loop.run_until_complete(actor._request(prompt, sampling_params({**probe, **extra}))).outputs[0]
        (position,) = output.logprobs
        return {token: position[token].logprob for token in probe["logprob_token_ids"]}

    named = next_token_logprobs({"extra_args": {MASKED_IDS_ARG: masked}})
    unnamed = next_token_logprobs({})
    assert {token for token, logprob in named.items() if logprob == -math.inf} == set(masked)
    assert all(math.isfinite(unnamed[token]) for token in masked), "the model itself gives the tags some probability"


def test_the_answer_text_decoded_once_is_the_text_vllm_would_detokenize(engine, tiny_model):
    """vLLM does not detokenize k2batch's requests (operators/sampling.py output_text):
    the text decoded from the finished tokens is vLLM's own, for constrained answers
    (EOS dropped) and for free-text summaries (the stop tag dropped, specials skipped),
    whether the answer stopped or was cut at max_tokens."""
    from operators.sampling import output_text

    actor = engine.actor
    prompts = [[int(i) for i in ids] for ids in batch_for(tiny_model, [f"text {i}" for i in range(12)])["_prompt_ids"]]
    ends = set()
    for params in (actor.answer_params, actor.summary_params, changed(actor.summary_params, max_tokens=5)):
        assert params.detokenize is False
        detokenized = changed(params, detokenize=True)
        for ids in prompts:
            ours, theirs = [engine.loop.run_until_complete(actor._request(ids, p)).outputs[0] for p in (params, detokenized)]
            assert list(ours.token_ids) == list(theirs.token_ids), "greedy: the same answer both times"
            assert output_text(actor.tokenizer, ours, params) == theirs.text != ""
            ends.add(ours.finish_reason)
    assert ends == {"stop", "length"}


def changed(params, **fields):
    """A copy of vllm.SamplingParams (a msgspec struct, not a dataclass) with `fields` set."""
    params = params.clone()
    for name, value in fields.items():
        setattr(params, name, value)
    return params
