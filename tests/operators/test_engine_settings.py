"""The typed engine boundary: what builds an engine, what makes two engines the same,
and the vLLM arguments K2Engine and the benchmarks both take from it."""

from dataclasses import replace

from operators.engine_settings import (
    EngineIdentity, EngineSettings, SamplingSettings, cpu_has_native_bf16, cpu_threads_bind, engine_dtype, replica_resources,
)

IDENTITY = EngineIdentity(source="/models/k2", revision=None, tensor_parallel_size=2, max_model_len=4096,
                          enable_prefix_caching=True, seed=0, cpu_kv_cache_gib=2, gpu_memory_utilization=0.9)


def test_the_thread_binding_places_ranks_but_is_not_the_engine_identity():
    assert EngineSettings(IDENTITY, cpu_threads_bind="0-1|2-3").identity == EngineSettings(IDENTITY).identity
    assert replace(IDENTITY, max_model_len=2048) != IDENTITY


def test_vllm_engine_arguments():
    cpu = EngineSettings(IDENTITY).vllm_engine_kwargs(cpu=True)
    assert cpu["model"] == "/models/k2" and cpu["distributed_executor_backend"] == "mp"
    assert cpu["structured_outputs_config"] == {"backend": "xgrammar", "disable_any_whitespace": True}
    assert "gpu_memory_utilization" not in cpu
    single = EngineSettings(replace(IDENTITY, tensor_parallel_size=1)).vllm_engine_kwargs(cpu=False)
    assert single["gpu_memory_utilization"] == 0.9 and "distributed_executor_backend" not in single


def cores(monkeypatch, **flags: bool) -> None:
    """This machine's CPU as torch reads it, with only `flags` set."""
    import torch

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: dict(flags))


def test_a_cpu_engine_computes_in_bfloat16_only_where_its_cores_do_so_natively(monkeypatch):
    cores(monkeypatch, avx512_bf16=True)
    assert engine_dtype("auto", cpu=True) == "bfloat16"
    cores(monkeypatch, avx2=True, avx512_bf16=False, amx_bf16=False)
    assert engine_dtype("auto", cpu=True) == "float32"
    assert EngineSettings(IDENTITY).vllm_engine_kwargs(cpu=True)["dtype"] == "float32"
    assert engine_dtype("auto", cpu=False) == "auto", "a GPU engine takes vLLM's choice from the model's config"
    assert engine_dtype("bfloat16", cpu=True) == "bfloat16", "a dtype the spec sets is kept"
    assert engine_dtype("float32", cpu=False) == "float32"
    assert EngineSettings(replace(IDENTITY, dtype="float16")).vllm_engine_kwargs(cpu=True)["dtype"] == "float16"


def test_native_bfloat16_is_read_from_the_cpus_capabilities(monkeypatch):
    for flags, native in (({"avx2": True, "avx512_bf16": False, "amx_bf16": False}, False),
                          ({"avx512_bf16": True}, True), ({"amx_bf16": True}, True), ({"bf16": True}, True)):
        cores(monkeypatch, **flags)
        assert cpu_has_native_bf16() is native, flags


def test_a_cpu_engine_binds_every_core_split_over_its_ranks_unless_told(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("VLLM_USE_AOT_COMPILE", raising=False)
    assert EngineSettings(IDENTITY).environment(cpu_cores=[0, 1, 2, 3]) == {
        "VLLM_USE_V2_MODEL_RUNNER": "0", "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": "0-1|2-3",
        "OMP_WAIT_POLICY": "PASSIVE", "VLLM_USE_AOT_COMPILE": "0"}
    assert EngineSettings(IDENTITY, cpu_threads_bind="0|1").environment(cpu_cores=[0, 1, 2, 3])["VLLM_CPU_OMP_THREADS_BIND"] == "0|1"
    assert cpu_threads_bind(1, [0]) == "0"


def test_every_engine_runs_vllms_v1_model_runner_whose_logits_processor_interface_the_tag_mask_has():
    """On a GPU as on CPU. Why, in the installed vLLM: Model Runner V2, its default where
    Triton is, loads only processors of its own interface, and its `allowed_token_ids`
    hold fewer ids than K2's vocabulary less its tags."""
    from vllm.v1.sample.logits_processor import LogitsProcessor
    from vllm.v1.worker.gpu.sample.logit_bias import MAX_NUM_ALLOWED_TOKEN_IDS
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as RunnerV2Processor

    from operators.sampling import TAG_MASK_PROCESSOR
    from operators.tag_mask import TagMask

    assert EngineSettings(IDENTITY).environment(cpu_cores=None) == {"VLLM_USE_V2_MODEL_RUNNER": "0"}
    assert EngineSettings(IDENTITY).vllm_engine_kwargs(cpu=False)["logits_processors"] == [TAG_MASK_PROCESSOR]
    assert TAG_MASK_PROCESSOR == f"{TagMask.__module__}:{TagMask.__name__}" and issubclass(TagMask, LogitsProcessor)
    assert not issubclass(TagMask, RunnerV2Processor) and MAX_NUM_ALLOWED_TOKEN_IDS < 32_032 - 16


def test_a_replica_asks_for_all_its_ranks():
    assert replica_resources(2, use_gpus=False) == {"num_cpus": 2}
    assert replica_resources(2, use_gpus=True) == {"num_gpus": 2, "num_cpus": 1}


def test_sampling_fields_come_from_the_tag_masking_builders(tiny_tokenizer):
    from operators import sampling

    settings = SamplingSettings(max_tokens=64, temperature=0.0, seed=1, max_attempts=3)
    vocab_size = len(tiny_tokenizer)
    assert settings.answer_fields(tiny_tokenizer, vocab_size, {"type": "object"}) == sampling.answer_sampling(
        tiny_tokenizer, vocab_size, max_tokens=64, temperature=0.0, seed=1, constraint={"type": "object"})
    assert settings.summary_fields(tiny_tokenizer, vocab_size) == sampling.summary_sampling(
        tiny_tokenizer, vocab_size, max_tokens=64, temperature=0.0, seed=1)


def test_a_wait_policy_or_compile_mode_set_where_the_engine_starts_is_kept_and_a_gpu_engine_gets_none(monkeypatch):
    """Unset, a CPU engine's threads wait asleep and its model is compiled without vLLM's
    AOT cache: the test above."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("VLLM_USE_AOT_COMPILE", "1")
    cpu = EngineSettings(IDENTITY).environment(cpu_cores=[0, 1])
    assert cpu["OMP_WAIT_POLICY"] == "ACTIVE" and cpu["VLLM_USE_AOT_COMPILE"] == "1"
    gpu = EngineSettings(IDENTITY).environment(cpu_cores=None)
    assert "OMP_WAIT_POLICY" not in gpu and "VLLM_USE_AOT_COMPILE" not in gpu, "a GPU engine's own"
