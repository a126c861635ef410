"""The typed settings a K2 engine actor is built and configured with, and the builders of
vLLM's engine and sampling arguments (the benchmarks import the same builders).

`EngineSettings` builds an engine; its `identity` decides whether a running engine can
serve another job (the notebook's warm engine). `TaskSettings` is what one job asks of
that engine: the schema, the prompts, the sampling. `PromptSettings` is what the
prepare stage renders with.
"""

import os
from dataclasses import dataclass, field
from typing import Any

from operators import sampling
from schemas.record_schema import RecordSchema

# vLLM's V1 model runner on every device (vLLM 0.32 picks Model Runner V2 wherever Triton
# is, i.e. on GPUs). K2's tag mask is a logits processor of the V1 runner's interface
# (operators/tag_mask.py); the V2 runner loads only processors of its own interface, and
# refuses `allowed_token_ids` longer than 1,024 ids, which K2's 32,032-token vocabulary
# needs. The V1 runner is also the one the CPU build runs, so GPUs run what the tests run.
RUNNER_ENVIRONMENT = {"VLLM_USE_V2_MODEL_RUNNER": "0"}

# A CPU engine's defaults that a value already set where the engine starts overrides.
CPU_DEFAULTS = {
    # The compute threads sleep between parallel regions instead of spinning first
    # (libgomp's default when unset): they share their cores with the engine core's
    # scheduler, the engine actor and the job's own tasks, which a spinning thread holds off.
    "OMP_WAIT_POLICY": "PASSIVE",
    # vLLM compiles a CPU model in its trace-once mode, whose compiled function its AOT
    # cache saves but cannot load ("'function' object has no attribute 'finalize_loading'"):
    # every start after a machine's first paid the failed load and a second compile.
    # Without AOT, torch's own compile cache serves those starts (3-4 s less per engine
    # start measured, the same rows/s).
    "VLLM_USE_AOT_COMPILE": "0",
}


@dataclass(frozen=True)
class EngineIdentity:
    """The settings that decide which engine is built; equal identities share an engine."""

    source: str  # resolved: an absolute folder or a hub id
    revision: str | None
    tensor_parallel_size: int
    max_model_len: int
    enable_prefix_caching: bool
    seed: int
    cpu_kv_cache_gib: int
    gpu_memory_utilization: float
    dtype: str = "auto"  # model.dtype: resolved where the engine starts (engine_dtype)


@dataclass(frozen=True)
class EngineSettings:
    identity: EngineIdentity
    # VLLM_CPU_OMP_THREADS_BIND as given by the spec; None: every core, split over the ranks.
    # Not part of the identity: it only places the ranks' threads.
    cpu_threads_bind: str | None = None

    def vllm_engine_kwargs(self, *, cpu: bool) -> dict[str, Any]:
        """vllm.AsyncEngineArgs' fields for this engine."""
        e = self.identity
        kwargs: dict[str, Any] = dict(
            model=e.source, revision=e.revision, dtype=engine_dtype(e.dtype, cpu=cpu),
            tensor_parallel_size=e.tensor_parallel_size, max_model_len=e.max_model_len,
            enable_prefix_caching=e.enable_prefix_caching, seed=e.seed,
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
            # vllm.LLM's default: the per-step stats feed only a server's metrics endpoint,
            # and computing them costs the engine's cores CPU time on every step.
            disable_log_stats=True,
            # task.confidence: log-probabilities of the distribution the decoder samples from
            # (after the grammar's mask, K2's tag mask and the temperature; docs/confidence.md).
            # Only requests that ask for log-probabilities pay for them.
            logprobs_mode="processed_logprobs",
            # K2's tags masked out of every answer that names them (operators/sampling.py).
            logits_processors=[sampling.TAG_MASK_PROCESSOR],
        )
        if not cpu:
            kwargs["gpu_memory_utilization"] = e.gpu_memory_utilization
        if e.tensor_parallel_size > 1:
            # Ranks as processes inside this actor: the actor already holds the
            # resources for all ranks (the "ray" executor is refused on CPU).
            kwargs["distributed_executor_backend"] = "mp"
        return kwargs

    def environment(self, *, cpu_cores: list[int] | None) -> dict[str, str]:
        """The environment an engine needs, set before it starts: the model runner, and on
        CPU (`cpu_cores`: the cores it may use) the KV cache, the threads' binding, how
        they wait and how the model is compiled. The binding is always set, never
        inherited: one left by an engine of another tensor_parallel_size would give the
        ranks the wrong groups."""
        if cpu_cores is None:
            return dict(RUNNER_ENVIRONMENT)
        return {
            **RUNNER_ENVIRONMENT,
            "VLLM_CPU_KVCACHE_SPACE": str(self.identity.cpu_kv_cache_gib),
            "VLLM_CPU_OMP_THREADS_BIND": self.cpu_threads_bind or cpu_threads_bind(self.identity.tensor_parallel_size, cpu_cores),
            **{name: os.environ.get(name, value) for name, value in CPU_DEFAULTS.items()},
        }


def engine_dtype(dtype: str, *, cpu: bool) -> str:
    """vLLM's `dtype` for model.dtype on this machine. vLLM's CPU platform takes bfloat16
    on any x86 CPU; without native bfloat16 instructions it emulates them, and the tiny
    model generated 3.1x slower than in float32 on an AVX2-only AMD EPYC (512 rows, 14.0
    against 44.1 rows/s)."""
    if dtype != "auto" or not cpu:
        return dtype
    return "bfloat16" if cpu_has_native_bf16() else "float32"


def cpu_has_native_bf16() -> bool:
    """Whether this machine's cores compute bfloat16 natively, from torch's reading of
    the CPU: AVX512-BF16 (vLLM's own test for its bfloat16 kernels) or AMX-BF16 on x86,
    BF16 on Arm."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    return any(capabilities.get(flag, False) for flag in ("avx512_bf16", "amx_bf16", "bf16"))


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


def replica_resources(tensor_parallel_size: int, use_gpus: bool) -> dict:
    """One replica asks for all its ranks: GPUs on a GPU cluster, else CPU cores."""
    if use_gpus:
        return {"num_gpus": tensor_parallel_size, "num_cpus": 1}
    return {"num_cpus": tensor_parallel_size}


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int
    temperature: float
    seed: int
    max_attempts: int  # generations per turn (extraction, summary), re-asking on an invalid answer

    def answer_fields(self, tokenizer, vocab_size: int, constraint: dict[str, Any]) -> dict[str, Any]:
        """SamplingParams fields of a constrained tool-call answer (every attempt), K2's
        tags masked out (operators/sampling.py)."""
        return sampling.answer_sampling(tokenizer, vocab_size, max_tokens=self.max_tokens, temperature=self.temperature,
                                        seed=self.seed, constraint=constraint)

    def summary_fields(self, tokenizer, vocab_size: int) -> dict[str, Any]:
        """SamplingParams fields of the free-text summary turn (operators/sampling.py)."""
        return sampling.summary_sampling(tokenizer, vocab_size, max_tokens=self.max_tokens, temperature=self.temperature,
                                         seed=self.seed)


@dataclass(frozen=True)
class ConfidenceSettings:
    """task.confidence on (operators/confident_answer.py): label mode scores the declared
    `labels` of `label_field`; with no label field, each top-level field gets its confidence."""

    label_field: str | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSettings:
    """What one job asks of an engine; a warm engine can switch tasks without restarting."""

    record_schema: RecordSchema = field(compare=False)
    tool_name: str | None  # None: no tool call is asked for (a standalone summary)
    system_prompt: str
    prime: str  # what the answer is opened with, e.g. `<tool_call>`
    summarize: bool  # after a valid record (or the row's JSON), ask for a summary turn
    sampling: SamplingSettings
    dedup: bool = False  # identical first-attempt prompts answered once per replica (operators/dedup.py)
    confidence: ConfidenceSettings | None = None  # None: answers carry no confidence


@dataclass(frozen=True)
class PromptSettings:
    """What the prepare stage renders and budgets the first-attempt prompts with."""

    id_column: str
    prompt: str
    prompt_columns: list[str]
    system_prompt: str
    prime: str
    tokenizer_source: str
    tokenizer_revision: str | None
    max_model_len: int
    max_tokens: int
    overflow: str = "reject"
