"""Ray Data actor stage: one vLLM engine replica and every row's attempts.

Re-asking happens here, inside the actor that owns the engine: a second engine pool
would load the model twice. `_answer` reads top to bottom: extract (operators/reask.py
with the extraction turn's judge and repair), then, in summarize mode, the summary turn
(operators/summarize_turn.py) in the same engine through the same loop. `_attempts`
counts every generation of the row, extraction and summary together.

The engine (`EngineSettings`) and the task (`TaskSettings`) are set apart, so the
notebook preview (jobs/notebook.py) can keep one engine warm across jobs.

The actor tells the run's board when it starts, which rows it holds and which it
answered (operators/engine_progress.py): the driver's stall guard reads it.
"""

import asyncio
import json
import os
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd

from operators import k2_format as k2
from operators import sampling
from operators.confident_answer import CONFIDENCE_COLUMNS, ConfidentAnswers, confidence_columns, sampled_logprobs
from operators.dedup import AnswerCache, prompt_key
from operators.engine_progress import EngineReporter
from operators.engine_settings import EngineIdentity, EngineSettings, TaskSettings
from operators.extraction_turn import judge_answer, repair_turns
from operators.label_scoring import LabelScoringRefused
from operators.outcome import Failure
from operators.reask import Attempts, Generation, reask
from operators.render_prompt import Turn, render_within
from operators.summarize_turn import judge_summary, standalone_turns, summary_repair_turns, summary_turns
from operators.usage import Usage

READS = ("_user_text", "_prompt_ids", "_reject_reason", "_reject_message")
STANDALONE_READS = ("_response_json",)  # a summary of an existing JSON column: no extraction turn
ADDS = ("_record_json", "_summary", "_reason", "error", "raw_output", "_attempts", "_prompt_tokens", "_completion_tokens",
        "_cached_prompt_tokens", "_deduplicated", *CONFIDENCE_COLUMNS)
# Only when asked for (`answer(columns=...)`): the summary turn's prefix-cache hit, which a preview shows.
ON_REQUEST = ("_summary_cached_tokens",)
# When the row's batch was answered (epoch seconds) and by which replica: the engine's busy
# time, which summary.json reports and `k2batch estimate` projects.
TIMING = ("_engine_start", "_engine_end", "_replica")


def with_ends(message: str, ends: tuple[str, ...]) -> str:
    """A reject's error with how each of its generations ended, so that an answer cut
    short (by a stop token, by max_tokens) can be told apart from a wrong one."""
    if not ends:
        return message
    return f"{message} [" + "; ".join(f"attempt {i}: {end}" for i, end in enumerate(ends, 1)) + "]"


class K2Engine:
    def __init__(self, *, engine: EngineSettings, task: TaskSettings):
        import vllm
        from vllm.platforms import current_platform
        from vllm.usage.usage_lib import UsageContext
        from vllm.utils.gc_utils import freeze_gc_heap

        from operators.tokenizer import load_tokenizer

        self.progress = EngineReporter()
        self.progress.starting()
        self.engine_settings = engine
        cpu = current_platform.is_cpu()
        os.environ.update(engine.environment(cpu_cores=sorted(os.sched_getaffinity(0)) if cpu else None))
        # A batch job is vLLM's offline case: the scheduler defaults of `vllm.LLM`
        # (on CPU twice the sequences and batched tokens of a server engine's).
        self.engine = vllm.AsyncLLMEngine.from_engine_args(
            vllm.AsyncEngineArgs(**engine.vllm_engine_kwargs(cpu=cpu)), usage_context=UsageContext.LLM_CLASS
        )
        self.tokenizer = load_tokenizer(engine.identity.source, engine.identity.revision)
        self.configure(task)
        # What vLLM's own server does once started: the objects alive now (the engine
        # client, the tokenizer, the model's config) leave the garbage collector's
        # generations, so a full collection during the run no longer walks them.
        freeze_gc_heap()
        self.progress.ready()

    def configure(self, task: TaskSettings) -> None:
        """Set the task this engine answers: the same engine serves any task (the engine's
        identity is checked by whoever hands it a new task: jobs/notebook.py). Every
        generation's sampling masks K2's tags out (operators/sampling.py)."""
        from schemas.tool_call import tool_call_json_schema

        self.task = task
        self.answers = AnswerCache() if task.dedup else None  # answers hold for one task only
        vocab_size = self.engine.model_config.get_vocab_size()
        self.confident = None
        if task.tool_name is not None:
            constraint = tool_call_json_schema(name=task.tool_name, parameters=task.record_schema.constraint_parameters)
            fields = task.sampling.answer_fields(self.tokenizer, vocab_size, constraint)
            if task.confidence is not None:  # task.confidence: answers carry a Confidence (operators/confident_answer.py)
                self.confident = ConfidentAnswers(task, task.confidence, tokenizer=self.tokenizer, vocab_size=vocab_size,
                                                  answer_fields=fields)
                fields = self.confident.generation_fields()
            self.answer_params = sampling.sampling_params(fields)
        self.summary_params = sampling.sampling_params(task.sampling.summary_fields(self.tokenizer, vocab_size))

    def identity(self) -> EngineIdentity:
        """What this engine was built with: a warm engine serves a job of the same identity."""
        return self.engine_settings.identity

    async def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return await self.answer(batch)

    async def answer(self, batch: pd.DataFrame, columns: tuple[str, ...] = ADDS) -> pd.DataFrame:
        """The batch's answers: `columns` of ADDS and ON_REQUEST, and TIMING."""
        missing = [c for c in READS if c not in batch.columns]
        if missing:
            raise KeyError(f"k2_engine: input batch lacks columns {missing}")
        unknown = [c for c in columns if c not in (*ADDS, *ON_REQUEST)]
        if unknown:
            raise KeyError(f"k2_engine: no answer column {unknown} (it adds {[*ADDS, *ON_REQUEST]})")
        reads = [c for c in (*READS, *STANDALONE_READS) if c in batch.columns]
        rows = batch[reads].to_dict("records")
        units = batch["_unit"].tolist() if "_unit" in batch.columns else ["?"] * len(rows)
        self.progress.taken(units)
        started = time.time()
        try:
            results = await asyncio.gather(*(self._answered(unit, self._answer_once(row)) for unit, row in zip(units, rows)))
        finally:
            self.progress.flush()
        out = batch.drop(columns=reads)
        for column in columns:
            out[column] = [r[column] for r in results]
        out["_engine_start"], out["_engine_end"], out["_replica"] = started, time.time(), self.progress.replica
        return out

    async def _answered(self, unit: str, answer) -> dict[str, Any]:
        result = await answer
        self.progress.answered(unit, result["_attempts"])
        return result

    async def _answer_once(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's answer, or a duplicate prompt's (operators/dedup.py): the same outcome
        and attempts, no tokens spent."""
        if self.answers is None or isinstance(row["_reject_reason"], str):
            return {**await self._answer(row), "_deduplicated": False}
        response = row.get("_response_json")
        key = prompt_key(row["_prompt_ids"], response if isinstance(response, str) else "")
        result, shared = await self.answers.answer(key, lambda: self._answer(row))
        if not shared:
            return {**result, "_deduplicated": False}
        return {**result, "_prompt_tokens": 0, "_completion_tokens": 0, "_cached_prompt_tokens": 0, "_deduplicated": True}

    async def _answer(self, row: dict[str, Any]) -> dict[str, Any]:
        # A reason is a string; a missing one may be None or NaN (pandas' string columns
        # hold NaN for a null), and NaN is truthy.
        if isinstance(row["_reject_reason"], str):
            return _row(Attempts(failure=Failure(row["_reject_reason"], row["_reject_message"])))
        prompt_ids = np.asarray(row["_prompt_ids"]).tolist()  # Python ints: numpy ints do not serialize to the engine
        if isinstance(row.get("_response_json"), str):
            # The JSON to summarize is the row's own: the prepared prompt already ends with it.
            done, record, turns = Attempts(), {}, standalone_turns(row["_user_text"], row["_response_json"])
        else:
            done = await self._extract(row["_user_text"], prompt_ids)
            if done.failure is not None or not self.task.summarize:
                return _row(done, record=done.value)
            record, turns = done.value, [*done.turns, *summary_turns(done.raw_output, done.value)]
            prompt_ids = None  # rendered from the turns: the extraction prompt plus the record
        summary = await self._summarize(turns, prompt_ids)
        return _row(done.then(summary), record=record, summary=summary.value, summary_cached=summary.last_cached_tokens)

    async def _extract(self, user_text: str, prompt_ids: list[int]) -> Attempts:
        """Generate, parse, validate; re-ask with the error until a valid record or `max_attempts`."""
        task, settings = self.task, self.task.sampling
        return await reask(
            self._confident_answer if self.confident else lambda ids: self._generate(ids, self.answer_params),
            turns=[Turn("user", user_text)], prompt_ids=prompt_ids,
            fit=lambda turns: self._fitting_prompt(turns, task.prime), prime=task.prime, max_attempts=settings.max_attempts,
            # Under the constraint the answer is the call's JSON, whether or not the prompt
            # was primed with <tool_call> (a tag the model can no longer write itself).
            judge=lambda out: judge_answer(k2.TOOL_CALL_OPEN + out.text, out.finish_reason, tool_name=task.tool_name,
                                           record_schema=task.record_schema, max_tokens=settings.max_tokens),
            repair=lambda out, failure, _: repair_turns(out.text, failure, tool_name=task.tool_name),
            no_room=Failure("prompt_too_long", "the re-ask leaves no room for an answer"),  # never: attempt 1 has its prompt
        )

    async def _summarize(self, turns: list[Turn], prompt_ids: list[int] | None) -> Attempts:
        """Ask for the summary; re-ask on a cut-off or blank one, up to `max_attempts`."""
        settings = self.task.sampling
        return await reask(
            lambda ids: self._generate(ids, self.summary_params), turns=turns, prompt_ids=prompt_ids,
            fit=lambda turns: self._fitting_prompt(turns, ""), max_attempts=settings.max_attempts,
            judge=lambda out: judge_summary(out.text, out.finish_reason, max_tokens=settings.max_tokens),
            repair=lambda out, failure, summary: summary_repair_turns(summary, failure),
            no_room=Failure("prompt_too_long", "the summary turn's prompt leaves no room for an answer "
                            f"within max_model_len ({self.engine_settings.identity.max_model_len})"),
        )

    def _fitting_prompt(self, turns: list[Turn], prime: str) -> list[int] | None:
        """The conversation's token ids, or None if it leaves no room for an answer."""
        budget = self.engine_settings.identity.max_model_len - self.task.sampling.max_tokens
        ids, fits = render_within(self.task.system_prompt, turns, prime=prime, tokenizer=self.tokenizer, budget=budget)
        return ids if fits else None

    async def _request(self, prompt_ids: list[int], params):
        """One engine request's final output, or the Failure of a request the engine refused."""
        from vllm.v1.engine.exceptions import EngineDeadError

        final = None
        try:
            # Rendered by vLLM's renderer here, on the actor's loop: a raw prompt dict would
            # be rendered on vLLM's thread pool, one hand-off per request.
            (rendered,) = self.engine.renderer.render_cmpl([{"prompt_token_ids": prompt_ids}])
            async for final in self.engine.generate(rendered, params, request_id=uuid.uuid4().hex):
                pass
        except EngineDeadError:
            raise  # the actor dies with its engine; Ray restarts it and retries the batch
        except Exception as err:  # one bad request must not fail its batch...
            if self.engine.errored:  # ...but a dead engine must not turn every row into a reject
                raise EngineDeadError() from err
            cause = err.__cause__ or err  # vLLM wraps the request's own error
            return Failure("engine_error", f"{type(cause).__name__}: {cause}")
        return final

    async def _generate(self, prompt_ids: list[int], params) -> Generation | Failure:
        final = await self._request(prompt_ids, params)
        if isinstance(final, Failure):
            return final
        output = final.outputs[0]
        # How much of the prompt the prefix cache served: vLLM's own per-request count.
        return Generation(text=sampling.output_text(self.tokenizer, output, params), token_ids=tuple(output.token_ids),
                          finish_reason=output.finish_reason,
                          cached_tokens=final.num_cached_tokens or 0, end=sampling.attempt_end(output),
                          logprobs=sampled_logprobs(output))

    # task.confidence (operators/confident_answer.py) ---------------------------------

    async def _confident_answer(self, prompt_ids: list[int]) -> Generation | Failure:
        """One attempt's answer with its Confidence: label mode scores its labels; extract
        traces its fields' tokens."""
        if self.task.confidence.label_field is not None:
            generate = lambda ids, params: self._generate(ids, params or self.answer_params)  # noqa: E731
            return await self.confident.label_answer(prompt_ids, generate, self._ask_next)
        generated = await self._generate(prompt_ids, self.answer_params)
        return generated if isinstance(generated, Failure) else self.confident.traced(generated)

    async def _ask_next(self, prompt_ids: list[int], token_ids: list[int]) -> tuple[dict[int, float], Usage]:
        """The model's log-probabilities of `token_ids` as the next token after `prompt_ids`
        (one greedy step without grammar; operators/label_scoring.py). An engine error raises."""
        chunks = [token_ids[at:at + sampling.MAX_ASKED_TOKENS] for at in range(0, len(token_ids), sampling.MAX_ASKED_TOKENS)]
        finals = await asyncio.gather(*(self._request(prompt_ids, sampling.next_token_params(chunk)) for chunk in chunks))
        logprobs, usage = {}, Usage()
        for final, chunk in zip(finals, chunks):
            if isinstance(final, Failure):
                raise LabelScoringRefused(final)
            (position,) = final.outputs[0].logprobs
            logprobs.update({token: position[token].logprob for token in chunk})
            usage += Usage(len(prompt_ids), len(final.outputs[0].token_ids), final.num_cached_tokens or 0)
        return logprobs, usage


def _row(done: Attempts, *, record: dict | None = None, summary: str | None = None,
         summary_cached: int | None = None) -> dict[str, Any]:
    """The columns `ADDS` and `ON_REQUEST` of one row; a record's row keeps no raw output.
    `summary_cached`: the last summary generation's prefix-cache hit."""
    failed = done.failure is not None
    return {
        "_record_json": None if failed or record is None else json.dumps(record, ensure_ascii=False),
        "_summary": None if failed else summary, "_reason": done.failure.reason if failed else None,
        "error": with_ends(done.failure.message, done.ends) if failed else None,
        "raw_output": done.raw_output if failed else None,
        "_attempts": done.attempts, "_prompt_tokens": done.usage.prompt_tokens,
        "_completion_tokens": done.usage.completion_tokens, "_cached_prompt_tokens": done.usage.cached_prompt_tokens,
        "_summary_cached_tokens": summary_cached,
        **confidence_columns(None if failed else done.confidence),
    }
