"""Ray Data actor stage: one vLLM engine replica and every row's attempts.

Re-asking happens here, inside the actor that owns the engine: a second engine pool
would load the model twice. `_answer` reads top to bottom: extract (generate, parse,
validate, and on failure append the answer and the error as new turns), then, in
summarize mode, the summary turn (operators/summarize_turn.py) in the same engine.
`_attempts` counts every generation of the row, extraction and summary together.

The engine (model settings) and the task (schema, prompts, sampling) are set apart, so
the notebook preview (jobs/notebook.py) can keep one engine warm across jobs.
"""

import asyncio
import json
import os
import uuid
from typing import Any

import numpy as np
import pandas as pd

from operators import k2_format as k2
from operators import sampling
from operators.outcome import Failure
from operators.parse_tool_call import parse_tool_call
from operators.render_prompt import Turn, render, to_token_ids
from operators.repair_turn import repair_message
from operators.summarize_turn import judge_summary, standalone_turns, summary_repair_turns, summary_turns
from schemas.record_schema import RecordSchema

READS = ("_user_text", "_prompt_ids", "_reject_reason", "_reject_message")
STANDALONE_READS = ("_response_json",)  # a summary of an existing JSON column: no extraction turn
ADDS = ("_record_json", "_summary", "_reason", "error", "raw_output", "_attempts", "_prompt_tokens", "_completion_tokens",
        "_cached_prompt_tokens", "_summary_cached_tokens")
# The settings that decide which engine is built (the rest are per task and per request).
ENGINE_SETTINGS = ("source", "revision", "tensor_parallel_size", "max_model_len", "enable_prefix_caching", "seed",
                   "cpu_kv_cache_gib", "gpu_memory_utilization")


def with_ends(message: str, ends: list[str]) -> str:
    """A reject's error with how each of its generations ended, so that an answer cut
    short (by a stop token, by max_tokens) can be told apart from a wrong one."""
    if not ends:
        return message
    return f"{message} [" + "; ".join(f"attempt {i}: {end}" for i, end in enumerate(ends, 1)) + "]"


def cpu_threads_bind(tensor_parallel_size: int, cores: list[int]) -> str:
    """VLLM_CPU_OMP_THREADS_BIND: every core for the engine, split evenly over the ranks.

    vLLM's `auto` keeps a core for its front end, which on a 2-core machine halves the
    compute (1.45x slower, measured in dev-environment.md); TP on CPU needs one
    explicit core group per rank or vLLM stops with "Not enough allowed NUMA nodes".
    """
    if len(cores) < tensor_parallel_size:
        raise ValueError(f"tensor_parallel_size {tensor_parallel_size} needs at least that many cores, this node has {len(cores)}")
    per_rank = len(cores) // tensor_parallel_size
    groups = [cores[r * per_rank:(r + 1) * per_rank] for r in range(tensor_parallel_size)]
    return "|".join(f"{g[0]}-{g[-1]}" if len(g) > 1 else str(g[0]) for g in groups)


class K2Engine:
    def __init__(self, *, model: dict[str, Any], record_schema: RecordSchema, tool_name: str | None,
                 system_prompt: str, prime: str, summarize: bool = False):
        import vllm
        from vllm.platforms import current_platform
        from vllm.usage.usage_lib import UsageContext

        from operators.tokenizer import load_tokenizer

        self.engine_settings = {key: model[key] for key in ENGINE_SETTINGS}
        engine_kwargs: dict[str, Any] = dict(
            model=model["source"],
            revision=model["revision"],
            tensor_parallel_size=model["tensor_parallel_size"],
            max_model_len=model["max_model_len"],
            enable_prefix_caching=model["enable_prefix_caching"],
            seed=model["seed"],
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
            # vllm.LLM's default: the per-step stats feed only a server's metrics endpoint,
            # and computing them costs the engine's cores CPU time on every step.
            disable_log_stats=True,
        )
        if current_platform.is_cpu():
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(model["cpu_kv_cache_gib"])
            # Always set, never inherited: a binding left in the environment by an earlier
            # engine of another tensor_parallel_size would give the ranks the wrong groups.
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = model.get("cpu_threads_bind") or cpu_threads_bind(
                model["tensor_parallel_size"], sorted(os.sched_getaffinity(0))
            )
        else:
            engine_kwargs["gpu_memory_utilization"] = model["gpu_memory_utilization"]
        if model["tensor_parallel_size"] > 1:
            # Ranks as processes inside this actor: the actor already holds the
            # resources for all ranks (the "ray" executor is refused on CPU).
            engine_kwargs["distributed_executor_backend"] = "mp"
        # A batch job is vLLM's offline case: the scheduler defaults of `vllm.LLM`
        # (on CPU twice the sequences and batched tokens of a server engine's).
        self.engine = vllm.AsyncLLMEngine.from_engine_args(
            vllm.AsyncEngineArgs(**engine_kwargs), usage_context=UsageContext.LLM_CLASS
        )
        self.tokenizer = load_tokenizer(model["source"], model["revision"])
        self.configure(model=model, record_schema=record_schema, tool_name=tool_name, system_prompt=system_prompt,
                       prime=prime, summarize=summarize)

    def configure(self, *, model: dict[str, Any], record_schema: RecordSchema, tool_name: str | None,
                  system_prompt: str, prime: str, summarize: bool = False) -> None:
        """Set the task this engine answers: the same engine serves any task whose
        `ENGINE_SETTINGS` match the ones it was built with. Every generation's sampling
        masks K2's tags out (operators/sampling.py)."""
        from schemas.tool_call import tool_call_json_schema

        changed = {k for k in ENGINE_SETTINGS if model[k] != self.engine_settings[k]}
        if changed:
            raise ValueError(f"k2_engine: model settings {sorted(changed)} differ from the running engine's; start a new one")
        self.model = model
        self.record_schema = record_schema
        self.tool_name = tool_name
        self.system_prompt = system_prompt
        self.prime = prime
        self.summarize = summarize
        vocab_size = self.engine.model_config.get_vocab_size()
        common = dict(max_tokens=model["max_tokens"], temperature=model["temperature"], seed=model["seed"])
        if tool_name is not None:
            constraint = tool_call_json_schema(name=tool_name, parameters=record_schema.json_schema)
            self.sampling = sampling.sampling_params(
                sampling.answer_sampling(self.tokenizer, vocab_size, constraint=constraint, **common))
        self.summary_sampling = sampling.sampling_params(sampling.summary_sampling(self.tokenizer, vocab_size, **common))

    def settings(self) -> dict[str, Any]:
        """The `ENGINE_SETTINGS` this engine was built with (a warm engine's identity)."""
        return dict(self.engine_settings)

    async def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return await self.answer(batch)

    async def answer(self, batch: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in READS if c not in batch.columns]
        if missing:
            raise KeyError(f"k2_engine: input batch lacks columns {missing}")
        reads = [c for c in (*READS, *STANDALONE_READS) if c in batch.columns]
        rows = batch[reads].to_dict("records")
        results = await asyncio.gather(*(self._answer(row) for row in rows))
        out = batch.drop(columns=reads)
        for column in ADDS:
            out[column] = [r[column] for r in results]
        return out

    async def _answer(self, row: dict[str, Any]) -> dict[str, Any]:
        result = {"_record_json": None, "_summary": None, "_reason": None, "error": None, "raw_output": None,
                  "_attempts": 0, "_prompt_tokens": 0, "_completion_tokens": 0, "_cached_prompt_tokens": 0,
                  "_summary_cached_tokens": None, "_ends": []}
        if row["_reject_reason"]:
            return {**result, "_reason": row["_reject_reason"], "error": row["_reject_message"]}
        prompt_ids = np.asarray(row["_prompt_ids"]).tolist()  # Python ints: numpy ints do not serialize to the engine
        if isinstance(row.get("_response_json"), str):
            # The JSON to summarize is the row's own: the prepared prompt already ends with it.
            record, turns = {}, standalone_turns(row["_user_text"], row["_response_json"])
        else:
            failure, record, turns = await self._extract(row["_user_text"], prompt_ids, result)
            if failure is not None:
                return {**result, "_reason": failure.reason, "error": with_ends(failure.message, result["_ends"])}
            if not self.summarize:
                return {**result, "_record_json": json.dumps(record, ensure_ascii=False), "raw_output": None}
            prompt_ids = None  # rendered from the turns: the extraction prompt plus the record
        failure, summary = await self._summarize_turn(turns, prompt_ids, result)
        if failure is not None:
            return {**result, "_reason": failure.reason, "error": with_ends(failure.message, result["_ends"])}
        return {**result, "_record_json": json.dumps(record, ensure_ascii=False), "_summary": summary, "raw_output": None}

    async def _extract(self, user_text: str, prompt_ids: list[int], result: dict) -> tuple[Failure | None, dict | None, list[Turn]]:
        """Generate, parse, validate; re-ask with the error until a valid record or
        `max_attempts`. Returns the record and the conversation ending with its call."""
        turns = [Turn("user", user_text)]
        failure = None
        for attempt in range(1, self.model["max_attempts"] + 1):
            if attempt > 1:
                prompt_ids = self._fitting_prompt(turns, self.prime)
                if prompt_ids is None:
                    break  # no room to re-ask: the last failure stands
            output = await self._generate(prompt_ids, self.sampling, result)
            result["_attempts"] += 1
            if isinstance(output, Failure):
                return output, None, turns
            result["_ends"].append(sampling.attempt_end(output))
            result["_prompt_tokens"] += len(prompt_ids)
            result["_completion_tokens"] += len(output.token_ids)
            result["raw_output"] = self.prime + output.text
            failure, record = self._judge(output)
            if failure is None:
                return None, record, turns + summary_turns(self.prime + output.text, record)
            turns += [Turn("tool_call", output.text), Turn("user", repair_message(failure, tool_name=self.tool_name))]
        return failure, None, turns

    async def _summarize_turn(self, turns: list[Turn], prompt_ids: list[int] | None, result: dict) -> tuple[Failure | None, str | None]:
        """Ask for the summary; re-ask on a cut-off or blank one, up to `max_attempts`."""
        failure = None
        for attempt in range(1, self.model["max_attempts"] + 1):
            if prompt_ids is None:
                prompt_ids = self._fitting_prompt(turns, "")
                if prompt_ids is None:
                    if failure is None:
                        return Failure("prompt_too_long", "the summary turn's prompt leaves no room for an answer "
                                       f"within max_model_len ({self.model['max_model_len']})"), None
                    break
            output = await self._generate(prompt_ids, self.summary_sampling, result, summary_turn=True)
            result["_attempts"] += 1
            if isinstance(output, Failure):
                return output, None
            result["_ends"].append(sampling.attempt_end(output))
            result["_prompt_tokens"] += len(prompt_ids)
            result["_completion_tokens"] += len(output.token_ids)
            failure, summary = judge_summary(output.text, output.finish_reason, max_tokens=self.model["max_tokens"])
            if failure is None:
                return None, summary
            result["raw_output"] = output.text
            turns = turns + summary_repair_turns(summary, failure)
            prompt_ids = None
        return failure, None

    def _fitting_prompt(self, turns: list[Turn], prime: str) -> list[int] | None:
        """The conversation's token ids, or None if it leaves no room for an answer."""
        prompt_ids = to_token_ids(render(self.system_prompt, turns, prime=prime), self.tokenizer)
        if len(prompt_ids) + self.model["max_tokens"] > self.model["max_model_len"]:
            return None
        return prompt_ids

    def _judge(self, output) -> tuple[Failure | None, dict | None]:
        if output.finish_reason == "length":
            return Failure("truncated", f"the answer reached max_tokens ({self.model['max_tokens']}) before it ended"), None
        # Under the constraint the answer is the call's JSON, whether or not the prompt
        # was primed with <tool_call> (a tag the model can no longer write itself).
        arguments = parse_tool_call(k2.TOOL_CALL_OPEN + output.text, tool_name=self.tool_name)
        if isinstance(arguments, Failure):
            return arguments, None
        record, errors = self.record_schema.validate(arguments)
        if errors:
            return Failure("schema_invalid", errors), None
        return None, record

    async def _generate(self, prompt_ids: list[int], sampling, result: dict, *, summary_turn: bool = False):
        from vllm.v1.engine.exceptions import EngineDeadError

        final = None
        try:
            async for final in self.engine.generate({"prompt_token_ids": prompt_ids}, sampling, request_id=uuid.uuid4().hex):
                pass
        except EngineDeadError:
            raise  # the actor dies with its engine; Ray restarts it and retries the batch
        except Exception as err:  # one bad request must not fail its batch...
            if self.engine.errored:  # ...but a dead engine must not turn every row into a reject
                raise EngineDeadError() from err
            cause = err.__cause__ or err  # vLLM wraps the request's own error
            return Failure("engine_error", f"{type(cause).__name__}: {cause}")
        # How much of the prompt the prefix cache served: vLLM's own per-request count.
        result["_cached_prompt_tokens"] += final.num_cached_tokens or 0
        if summary_turn:
            result["_summary_cached_tokens"] = final.num_cached_tokens
        return final.outputs[0]
