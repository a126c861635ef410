"""Answers with their confidence (`task.confidence`): the engine actor's generation step
wrapped so that the answer it hands the re-ask loop carries a `Confidence`.

Extract (and summarize's extraction): the answer is generated as before, asking vLLM
for each sampled token's log-probability (`logprobs=0`; the engine's
`logprobs_mode="processed_logprobs"`: after the grammar's mask, K2's tag mask and, above
temperature 0, the temperature), and each top-level field gets the probability of its
value's tokens (operators/confidence.py).

Label: every declared label is scored by its whole token path (operators/
label_scoring.py) and the label is chosen from that distribution. When the grammar
fixes the answer up to the label (the label is the first argument), nothing is generated
before scoring; when the label is the only argument, the answer is then written out, no
generation at all; when other arguments follow (a rationale), they are generated with
the label held to the chosen one. Otherwise the answer is generated first, the label
scored after what it wrote before the label, and generated again with the chosen label
only if it differs.
"""

import json
from dataclasses import replace
from typing import Callable

from operators.confidence import Confidence, TokenTrace, choose_label, field_confidence, label_distribution
from operators.engine_settings import ConfidenceSettings, TaskSettings
from operators.grammar_replay import GrammarReplay
from operators.label_scoring import Ask, LabelScoringRefused, answer_label_text, plan_scoring, score_labels
from operators.outcome import Failure
from operators.record_confidence import CONFIDENCE_COLUMNS
from operators.reask import Generation
from operators.sampling import sampling_params
from operators.usage import Usage
from schemas.tool_call import tool_call_json_schema

PLANS_KEPT = 4096  # scoring plans of generated answer prefixes kept per task (the same prefix recurs at temperature 0)


def confidence_columns(confidence: Confidence | None) -> dict:
    """A row's CONFIDENCE_COLUMNS: nulls for a reject or an answer without a confidence."""
    if confidence is None:
        return dict.fromkeys(CONFIDENCE_COLUMNS)
    return {"_confidence": confidence.value,
            "_label_probs_json": None if confidence.label_probs is None else json.dumps(confidence.label_probs),
            "_field_confidence_json": None if confidence.field_confidence is None else json.dumps(confidence.field_confidence)}


def sampled_logprobs(output) -> tuple[float, ...] | None:
    """The log-probability of each generated token (vLLM's `logprobs=0` output, flat or not)."""
    logprobs = output.logprobs
    if logprobs is None:
        return None
    flat = getattr(logprobs, "logprobs", None)
    if flat is not None and len(flat) == len(output.token_ids):  # FlatLogprobs: one entry per position
        return tuple(flat)
    return tuple(position[token].logprob for position, token in zip(logprobs, output.token_ids))


class ConfidentAnswers:
    def __init__(self, task: TaskSettings, settings: ConfidenceSettings, *, tokenizer, vocab_size: int, answer_fields: dict):
        self.task, self.settings, self.tokenizer = task, settings, tokenizer
        self.answer_fields = answer_fields  # the answer's SamplingParams fields (operators/sampling.py)
        self.replay = GrammarReplay(tokenizer, vocab_size, answer_fields["structured_outputs"]["json"])
        if settings.label_field is None:
            return
        parameters = task.record_schema.constraint_parameters
        field = settings.label_field
        # The answer up to the label's value when the grammar fixes it: the label is the first argument.
        self.opening = f'{{"name":{json.dumps(task.tool_name)},"arguments":{{{json.dumps(field)}:"'
        fixed = self.replay.forced_text().startswith(self.opening)
        self.label_only = set(parameters.get("properties", {})) == {field} and field in parameters.get("required", [])
        self.fixed_plan = plan_scoring(tokenizer, self.replay, self.opening, list(settings.labels)) if fixed else None
        self._plans: dict[str, object] = {}  # answer prefix -> its scoring plan (generated prefixes)
        self._held: dict[str, object] = {}  # label -> SamplingParams with the label held to it

    def generation_fields(self) -> dict:
        """The answer's sampling fields; in extract, with each sampled token's log-probability."""
        if self.settings.label_field is not None:
            return self.answer_fields
        return {**self.answer_fields, "logprobs": 0, "flat_logprobs": True}

    def traced(self, generated: Generation) -> Generation:
        """Extract: the generation with its fields' confidence."""
        if generated.logprobs is None:
            return generated
        pieces = [self.replay.token_bytes[token] for token in generated.token_ids]
        forced = self.replay.forced(list(generated.token_ids))
        if forced is None:  # the replayed grammar is not the engine's: no claim is better than a wrong one
            return generated
        return replace(generated, confidence=field_confidence(TokenTrace(pieces, list(generated.logprobs), forced)))

    async def label_answer(self, prompt_ids: list[int], generate: Callable, ask: Ask) -> Generation | Failure:
        """Label mode's answer: scored, chosen, and generated only where it must be
        (`generate(ids, params)`: one constrained generation; `ask`: label_scoring.Ask)."""
        first = None
        if self.fixed_plan is not None:
            plan = self.fixed_plan
        else:
            first = await generate(prompt_ids, None)
            if isinstance(first, Failure) or (located := self._written_label(first.text)) is None:
                return first
            written, prefix = located
            plan = self._plan(prefix)
        try:
            scores, usage = await score_labels(ask, plan, prompt_ids)
        except LabelScoringRefused as refused:
            return refused.failure
        probs = label_distribution(scores)
        sampling = self.task.sampling
        chosen = choose_label(probs, temperature=sampling.temperature, seed=sampling.seed, prompt_ids=prompt_ids)
        confidence = Confidence(value=probs[chosen], label_probs=probs)
        if first is not None and written == chosen:
            return replace(first, confidence=confidence, usage=first.spent(prompt_ids) + usage)
        if self.label_only:
            text = f'{self.opening}{answer_label_text(chosen)}"}}}}'
            return Generation(text=text, token_ids=(), finish_reason="stop", cached_tokens=0,
                              end="finish_reason=stop (label chosen by scoring) after 0 tokens",
                              confidence=confidence, usage=usage)
        held = await generate(prompt_ids, self._held_to(chosen))
        if isinstance(held, Failure):
            return held
        before = first.spent(prompt_ids) if first is not None else Usage()
        return replace(held, confidence=confidence, usage=before + held.spent(prompt_ids) + usage)

    def _written_label(self, text: str) -> tuple[str, str] | None:
        """The declared label an answer wrote and the answer up to its value's opening
        quote; None if it wrote none (the judge says why, and no confidence is claimed)."""
        from operators.answer_spans import argument_spans

        spans = argument_spans(text)
        if spans is None or self.settings.label_field not in spans:
            return None
        begin, end = spans[self.settings.label_field]
        try:
            label = json.loads(text[begin:end])
        except json.JSONDecodeError:
            return None
        return (label, text[:begin + 1]) if label in self.settings.labels else None

    def _plan(self, prefix: str):
        if prefix not in self._plans:
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            self._plans[prefix] = plan_scoring(self.tokenizer, self.replay, prefix, list(self.settings.labels))
        return self._plans[prefix]

    def _held_to(self, label: str):
        """The answer's SamplingParams with the label argument held to `label` (a grammar per label, compiled once)."""
        if label not in self._held:
            parameters = json.loads(json.dumps(self.task.record_schema.constraint_parameters))
            parameters["properties"][self.settings.label_field] = {"enum": [label]}
            constraint = tool_call_json_schema(name=self.task.tool_name, parameters=parameters)
            self._held[label] = sampling_params({**self.answer_fields, "structured_outputs": {"json": constraint}})
        return self._held[label]
