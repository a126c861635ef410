"""task.confidence with a real vLLM engine on the tiny model, in this process (one engine
for the module): every label record's probabilities sum to 1 and the label is their
argmax at temperature 0; labels sharing their first tokens are judged by the whole path
(a case where the greedy first step and the full path disagree, searched for with the
engine itself); field confidence lies in (0, 1] and is 1 for a field the grammar forces."""

import asyncio
import json
import os
from dataclasses import replace

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field
from typing import Literal

from jobs.plan.settings_from_spec import engine_settings, sampling_settings
from jobs.spec import JobSpec
from operators import k2_format as k2
from operators.engine_settings import ConfidenceSettings, TaskSettings
from operators.k2_engine import K2Engine
from operators.prepare_prompts import PreparePrompts
from operators.render_prompt import render_system_prompt
from schemas.labels import label_record_schema
from schemas.record_schema import RecordSchema
from schemas.tool_call import tool_definition
from tests.operators.in_process_engine import shut_down

pytestmark = pytest.mark.engine
TEXTS = [f"Article {i}: {word} news from the city." for i, word in enumerate(
    ["council", "market", "laboratory", "stadium", "museum", "harbour", "election", "theatre"])]
LABELS = ["politics", "business", "science", "sports", "culture"]


class Tagged(BaseModel):
    """`kind` has one value: the grammar writes it, the model chooses nothing."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["news"]
    word: str = Field(max_length=8)


@pytest.fixture(scope="module")
def spec(tiny_model):
    from tests.conftest import job_spec

    return JobSpec.model_validate(job_spec(model={"source": str(tiny_model), "max_model_len": 1024, "max_tokens": 64,
                                                  "max_attempts": 2}))


class Engine:
    """The actor as Ray Data drives it, every call on one event loop; `use` sets its task."""

    def __init__(self, actor: K2Engine, spec, tiny_model):
        self.actor, self.spec, self.model = actor, spec, str(tiny_model)
        self.loop = asyncio.new_event_loop()

    def use(self, record_schema: RecordSchema, tool: str, confidence: ConfidenceSettings | None, **sampling):
        system = render_system_prompt([tool_definition(name=tool, description="Record it.",
                                                       parameters=record_schema.tool_parameters)])
        self.system = system
        self.actor.configure(TaskSettings(record_schema=record_schema, tool_name=tool, system_prompt=system,
                                          prime=k2.TOOL_CALL_OPEN, summarize=False, confidence=confidence,
                                          sampling=replace(sampling_settings(self.spec), **sampling)))

    def answer(self, texts: list[str], prompt: str = "Label: {text}") -> pd.DataFrame:
        prepare = PreparePrompts(id_column="id", prompt=prompt, prompt_columns=["text"], system_prompt=self.system,
                                 prime=k2.TOOL_CALL_OPEN, tokenizer_source=self.model, tokenizer_revision=None,
                                 max_model_len=1024, max_tokens=64)
        batch = prepare(pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "_unit": "u", "text": texts}))
        return self.loop.run_until_complete(self.actor(batch))


@pytest.fixture(scope="module")
def engine(spec, tiny_model):
    saved = dict(os.environ)  # the engine sets its CPU settings in this process's environment
    schema = label_record_schema(LABELS)
    task = TaskSettings(record_schema=schema, tool_name="record_label", system_prompt="SYS", prime=k2.TOOL_CALL_OPEN,
                        summarize=False, sampling=sampling_settings(spec))
    actor = K2Engine(engine=engine_settings(spec, str(tiny_model)), task=task)
    driven = Engine(actor, spec, tiny_model)
    yield driven
    shut_down(actor, driven.loop)
    os.environ.clear()
    os.environ.update(saved)


def label_answers(engine: Engine, labels: list[str], texts: list[str], *, confidence: bool, **sampling) -> pd.DataFrame:
    schema = label_record_schema(labels)
    engine.use(schema, "record_label", ConfidenceSettings("label", tuple(labels)) if confidence else None, **sampling)
    out = engine.answer(texts)
    assert out["_record_json"].notna().all(), out["error"].tolist()
    out["label"] = [json.loads(r)["label"] for r in out["_record_json"]]
    return out


def test_every_label_record_has_a_distribution_over_the_declared_labels_and_takes_its_argmax(engine):
    out = label_answers(engine, LABELS, TEXTS, confidence=True)
    for _, row in out.iterrows():
        probs = json.loads(row["_label_probs_json"])
        assert set(probs) == set(LABELS) and abs(sum(probs.values()) - 1) <= 1e-3
        assert row["label"] == max(probs, key=probs.get) and row["_confidence"] == probs[row["label"]]
    assert (out["_attempts"] == 1).all()
    # The five labels part at their first token: one one-step request a row, and no generation (the label is
    # the only argument, so the answer is written from the chosen label).
    assert (out["_completion_tokens"] == 1).all() and (out["_prompt_tokens"] > 0).all()


def test_at_temperature_above_zero_the_label_is_drawn_from_the_distribution(engine):
    out = label_answers(engine, LABELS, TEXTS * 4, confidence=True, temperature=1.0)
    probs = [json.loads(p) for p in out["_label_probs_json"]]
    assert all(abs(sum(p.values()) - 1) <= 1e-3 for p in probs)
    # A draw, not the argmax: with a random model's flat distributions some rows take another label.
    assert any(row_label != max(p, key=p.get) for row_label, p in zip(out["label"], probs))
    assert all(p[row_label] > 0 for row_label, p in zip(out["label"], probs))


def shared_prefix_labels(tokenizer) -> list[list[str]]:
    """Label triples: two that share their first token and part at the next (a word of
    the tiny vocabulary with two suffixes), and a third that starts with another token."""
    from operators.render_prompt import content_token_ids

    vocab = sorted(t for t in tokenizer.get_vocab() if t.isalpha() and t.islower() and 3 <= len(t) <= 6)
    triples = []
    for word, other in zip(vocab[:40], vocab[-40:]):
        labels = [word + "ics", word + "ed", other]
        first, second, third = content_token_ids(tokenizer, labels)
        if first[0] == second[0] != third[0] and first[1:2] != second[1:2] and len(first) > 1 and len(second) > 1:
            triples.append(labels)
    return triples


def test_labels_that_share_their_first_tokens_are_judged_by_the_whole_path(engine, tiny_tokenizer):
    """Free greedy decoding commits to the more probable first token; two labels that
    share it split its probability where they part, so the whole paths can favor the
    third label. Search the tiny model for such a case (deterministic: greedy, fixed
    weights), then check confidence picks the whole path's argmax."""
    found = None
    for labels in shared_prefix_labels(tiny_tokenizer):
        free = label_answers(engine, labels, TEXTS[:4], confidence=False)
        scored = label_answers(engine, labels, TEXTS[:4], confidence=True)
        differ = free["label"] != scored["label"]
        if differ.any():
            found = labels, free[differ], scored[differ]
            break
    assert found is not None, "no label triple in the tiny vocabulary where greedy decoding and the full path disagree"
    labels, free, scored = found
    print(f"greedy and the full path disagree on {labels}: {len(scored)} of {len(TEXTS[:4])} rows")
    for (_, greedy), (_, row) in zip(free.iterrows(), scored.iterrows()):
        probs = json.loads(row["_label_probs_json"])
        assert row["label"] == max(probs, key=probs.get) != greedy["label"]
        assert probs[row["label"]] > probs[greedy["label"]]


def test_field_confidence_is_a_probability_and_certain_where_the_grammar_writes_the_value(engine):
    engine.use(RecordSchema.from_model(Tagged), "tag", ConfidenceSettings())
    out = engine.answer(TEXTS, prompt="Tag: {text}")
    records = out[out["_record_json"].notna()]
    assert len(records) >= len(TEXTS) - 1, out["error"].tolist()
    for _, row in records.iterrows():
        fields = json.loads(row["_field_confidence_json"])
        assert set(fields) == {"kind", "word"}
        assert fields["kind"] == 1.0, "an enum of one value is forced"
        assert 0 < fields["word"] <= 1 and row["_confidence"] == min(fields.values())
    assert records["_label_probs_json"].isna().all()
    engine.use(RecordSchema.from_model(Tagged), "tag", None)
    assert engine.answer(TEXTS[:2], prompt="Tag: {text}")["_confidence"].isna().all(), "off: no confidence"
