"""Ray Data actor stage: one vLLM engine replica and every row's attempts.

Re-asking happens here, inside the actor that owns the engine: a second engine pool
would load the model twice. The loop in `_answer` reads top to bottom: generate,
parse, validate, and on failure append the answer and the error as new turns.
"""

import asyncio
import json
import os
import uuid
from typing import Any

import pandas as pd

from operators import k2_format as k2
from operators.outcome import Failure
from operators.parse_tool_call import parse_tool_call
from operators.render_prompt import Turn, render, to_token_ids
from operators.repair_turn import repair_message
from schemas.record_schema import RecordSchema

READS = ("_user_text", "_prompt_ids", "_reject_reason", "_reject_message")
ADDS = ("_record_json", "_reason", "error", "raw_output", "_attempts", "_prompt_tokens", "_completion_tokens")


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
    def __init__(self, *, model: dict[str, Any], record_schema: RecordSchema, tool_name: str,
                 system_prompt: str, prime: str):
        import vllm
        from vllm.platforms import current_platform
        from vllm.sampling_params import SamplingParams, StructuredOutputsParams

        from operators.tokenizer import load_tokenizer
        from schemas.tool_call import tool_call_json_schema

        self.model = model
        self.record_schema = record_schema
        self.tool_name = tool_name
        self.system_prompt = system_prompt
        self.prime = prime
        engine_kwargs: dict[str, Any] = dict(
            model=model["source"],
            revision=model["revision"],
            tensor_parallel_size=model["tensor_parallel_size"],
            max_model_len=model["max_model_len"],
            enable_prefix_caching=model["enable_prefix_caching"],
            seed=model["seed"],
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        if current_platform.is_cpu():
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(model["cpu_kv_cache_gib"])
            os.environ.setdefault(
                "VLLM_CPU_OMP_THREADS_BIND",
                cpu_threads_bind(model["tensor_parallel_size"], sorted(os.sched_getaffinity(0))),
            )
        else:
            engine_kwargs["gpu_memory_utilization"] = model["gpu_memory_utilization"]
        if model["tensor_parallel_size"] > 1:
            # Ranks as processes inside this actor: the actor already holds the
            # resources for all ranks (the "ray" executor is refused on CPU).
            engine_kwargs["distributed_executor_backend"] = "mp"
        self.engine = vllm.AsyncLLMEngine.from_engine_args(vllm.AsyncEngineArgs(**engine_kwargs))
        self.tokenizer = load_tokenizer(model["source"], model["revision"])
        self.sampling = SamplingParams(
            max_tokens=model["max_tokens"],
            temperature=model["temperature"],
            seed=model["seed"],
            skip_special_tokens=False,  # or the <tool_call> tags vanish from the text
            stop=list(k2.SAFETY_STOPS),
            structured_outputs=StructuredOutputsParams(
                json=tool_call_json_schema(name=tool_name, parameters=record_schema.json_schema)
            ),
        )

    async def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in READS if c not in batch.columns]
        if missing:
            raise KeyError(f"k2_engine: input batch lacks columns {missing}")
        rows = batch[list(READS)].to_dict("records")
        results = await asyncio.gather(*(self._answer(row) for row in rows))
        out = batch.drop(columns=list(READS))
        for column in ADDS:
            out[column] = [r[column] for r in results]
        return out

    async def _answer(self, row: dict[str, Any]) -> dict[str, Any]:
        result = {"_record_json": None, "_reason": None, "error": None, "raw_output": None,
                  "_attempts": 0, "_prompt_tokens": 0, "_completion_tokens": 0}
        if row["_reject_reason"]:
            return {**result, "_reason": row["_reject_reason"], "error": row["_reject_message"]}
        turns = [Turn("user", row["_user_text"])]
        prompt_ids = [int(i) for i in row["_prompt_ids"]]  # numpy ints do not serialize to the engine
        failure = None
        for attempt in range(1, self.model["max_attempts"] + 1):
            if attempt > 1:
                prompt_ids = to_token_ids(render(self.system_prompt, turns, prime=self.prime), self.tokenizer)
                if len(prompt_ids) + self.model["max_tokens"] > self.model["max_model_len"]:
                    break  # no room to re-ask: the last failure stands
            output = await self._generate(prompt_ids)
            result["_attempts"] = attempt
            if isinstance(output, Failure):
                failure = output
                break
            result["_prompt_tokens"] += len(prompt_ids)
            result["_completion_tokens"] += len(output.token_ids)
            result["raw_output"] = self.prime + output.text
            failure, record = self._judge(output)
            if failure is None:
                return {**result, "_record_json": json.dumps(record, ensure_ascii=False), "raw_output": None}
            turns += [Turn("tool_call", output.text), Turn("user", repair_message(failure, tool_name=self.tool_name))]
        return {**result, "_reason": failure.reason, "error": failure.message}

    def _judge(self, output) -> tuple[Failure | None, dict | None]:
        if output.finish_reason == "length":
            return Failure("truncated", f"the answer reached max_tokens ({self.model['max_tokens']}) before it ended"), None
        arguments = parse_tool_call(self.prime + output.text, tool_name=self.tool_name)
        if isinstance(arguments, Failure):
            return arguments, None
        record, errors = self.record_schema.validate(arguments)
        if errors:
            return Failure("schema_invalid", errors), None
        return None, record

    async def _generate(self, prompt_ids: list[int]):
        from vllm.v1.engine.exceptions import EngineDeadError

        final = None
        try:
            async for final in self.engine.generate({"prompt_token_ids": prompt_ids}, self.sampling, request_id=uuid.uuid4().hex):
                pass
        except EngineDeadError:
            raise  # the actor dies with its engine; Ray restarts it and retries the batch
        except Exception as err:  # one bad request must not fail its batch...
            if self.engine.errored:  # ...but a dead engine must not turn every row into a reject
                raise EngineDeadError() from err
            cause = err.__cause__ or err  # vLLM wraps the request's own error
            return Failure("engine_error", f"{type(cause).__name__}: {cause}")
        return final.outputs[0]
