"""The typed plan of one run (pipelines/flow_plan.py), built once from a resolved spec:
the only place the spec's fields are turned into what the stages and the engine take."""

from dataclasses import replace

from jobs.plan.input_units import Unit
from jobs.plan.resolve import ResolvedJob
from jobs.spec import JobSpec
from operators.engine_settings import EngineIdentity, EngineSettings, PromptSettings, SamplingSettings, TaskSettings
from operators.prepare_prompts import first_attempt_prime
from pipelines.flow_plan import EngineStageSettings, FlowPlan, ReadSettings, WriteSettings
from pipelines.registry import MODES


def engine_settings(spec: JobSpec, model_source: str) -> EngineSettings:
    m = spec.model
    return EngineSettings(
        identity=EngineIdentity(
            source=model_source, revision=m.revision, tensor_parallel_size=m.tensor_parallel_size,
            max_model_len=m.max_model_len, enable_prefix_caching=m.enable_prefix_caching, seed=m.seed,
            cpu_kv_cache_gib=m.cpu_kv_cache_gib, gpu_memory_utilization=m.gpu_memory_utilization, dtype=m.dtype,
        ),
        cpu_threads_bind=m.cpu_threads_bind,
    )


def sampling_settings(spec: JobSpec) -> SamplingSettings:
    m = spec.model
    return SamplingSettings(max_tokens=m.max_tokens, temperature=m.temperature, seed=m.seed, max_attempts=m.max_attempts)


def answer_prime(spec: JobSpec) -> str:
    """What the first answer is opened with: `<tool_call>` (when primed) for a tool call;
    nothing for a standalone summary, which the model answers in plain text."""
    return "" if spec.task.response_column else first_attempt_prime(spec.task.prime_tool_call)


def prompt_settings(resolved: ResolvedJob) -> PromptSettings:
    spec = resolved.spec
    return PromptSettings(
        id_column=spec.input.id_column, prompt=spec.task.prompt, prompt_columns=spec.task.prompt_columns,
        system_prompt=resolved.system_prompt, prime=answer_prime(spec), tokenizer_source=resolved.model_source,
        tokenizer_revision=spec.model.revision, max_model_len=spec.model.max_model_len,
        max_tokens=spec.model.max_tokens, overflow=spec.task.overflow,
    )


def read_settings(resolved: ResolvedJob, units: list[Unit]) -> ReadSettings:
    """What to read of `units`, and how (pipelines/stages.py unit_reader reads one)."""
    return ReadSettings(units=[unit.read() for unit in units], filesystem=resolved.input_fs, columns=resolved.read_columns,
                        schema=resolved.read_schema)


def flow_plan(resolved: ResolvedJob, *, units: list[Unit], use_gpus: bool,
              write: WriteSettings | None = None, replicas: tuple[int, int] | None = None) -> FlowPlan:
    """The plan of a run over `units` (the pending ones), or of a preview (no `write`);
    `replicas`: (min, max) as the session can hold them (default `model.replicas`'s)."""
    spec = resolved.spec
    task = spec.task
    min_replicas, max_replicas = replicas or spec.model.replica_range
    confidence = MODES[task.mode].confidence(task, resolved.record_schema)
    return FlowPlan(
        mode=task.mode,
        read=read_settings(resolved, units),
        prompts=prompt_settings(resolved),
        response_column=task.response_column,
        engine=engine_settings(spec, resolved.model_source),
        task=TaskSettings(record_schema=resolved.record_schema, tool_name=task.tool_name,
                          system_prompt=resolved.system_prompt, prime=answer_prime(spec),
                          summarize=MODES[task.mode].summary_turn, sampling=sampling_settings(spec),
                          dedup=task.dedup if task.dedup is not None else spec.model.temperature == 0,
                          confidence=confidence),
        stage=EngineStageSettings(min_replicas=min_replicas, max_replicas=max_replicas, batch_size=spec.model.batch_size,
                                  max_batches_in_flight=spec.model.max_batches_in_flight, use_gpus=use_gpus),
        # The writer's confidence columns are the engine's: one setting for both.
        write=replace(write, confidence=confidence) if write is not None else None,
    )
