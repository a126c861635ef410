"""The contenders of the side-by-side engine benchmarks (engine_ceiling, label_ceiling),
each run in a child process of its own over the same rows, prompts, constraint, sampling
and engine arguments (benchmarks/workload.py):
  vllm: one `vllm.LLM.generate` over all prompts, in one process;
  k2batch: `jobs.driver.run.run_job` over the rows as Parquet, read to committed write;
  raydata: `ray.data.llm` vLLMEngineProcessorConfig + build_processor, read_parquet to
      write_parquet, CPU settings from its docs (one {"CPU": 1} bundle, no engine metrics);
  asyncllm, k2engine: the layers between vllm and k2batch, on a started engine as vllm:
      vLLM's async engine client alone, and k2batch's engine actor code without Ray.
Each child runs a small input (n rows) and the full one (N rows), interleaved; the
benchmark starts one child of each contender in turn per repetition
(engine_ceiling.run_in_turns). A workload is the job spec (extract: the demo job; label:
topics of the same articles).
"""

import functools
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol

from benchmarks import workload
from benchmarks.processes import ProcessSampler

# psutil samples of every process of a run, for the CPU seconds each part of it took:
# rare enough that the sampling itself costs well under 1% of a core.
SAMPLE_SECONDS = 0.5
TOPICS = ["politics", "business", "science", "sports", "culture"]


def extract_spec(source: str, folder: Path, out: Path):
    """The demo job (schemas.examples.news:NewsHeadlines)."""
    return workload.job_spec(name="bench-ceiling", model=source, input_uri=folder, output_uri=out)


def label_spec(source: str, folder: Path, out: Path):
    """Label mode on the same articles: one of five topics, max_tokens 64 (an answer is a few tokens).
    task.confidence off: with it, label mode scores the labels instead of generating the answer,
    other work than the raw engine's generate (benchmarks/confidence.py measures that cost)."""
    return workload.job_spec(name="bench-label", model=source, input_uri=folder, output_uri=out, max_tokens=64,
                             task={"mode": "label", "schema": None, "labels": TOPICS, "tool_name": None, "confidence": False,
                                   "tool_description": None, "prompt": "Label the topic of this article:\n\n{body}"})


WORKLOADS = {"extract": extract_spec, "label": label_spec}


def _schedule(small_reps: int, reps: int) -> list[str]:
    """Small and full runs interleaved, so a slow drift of the machine hits both alike."""
    order = []
    for i in range(max(small_reps, reps)):
        order += (["small"] if i < small_reps else []) + (["big"] if i < reps else [])
    return order


@dataclass(frozen=True)
class Answered:
    """One answer of an input on a started engine: its rows and tokens."""

    rows: int
    prompt_tokens: int
    output_tokens: int
    cached_prompt_tokens: int


class StartedEngine(Protocol):
    """A contender timed on a started engine ((a), (a2), (b2)): built with the checked
    jobs of both inputs, it keeps their prompts and starts its engine (taking
    `startup_seconds`), then answers an input ("small" or "big"), every call on the
    same thread."""

    startup_seconds: float

    def answer(self, size: str) -> Answered: ...

    def reset_prefix_cache(self) -> None: ...

    def shutdown(self) -> None: ...


def _started_engine_runs(source: str, folders: dict, root: Path, *, spec_for, reps: int, small_reps: int,
                         engine: Callable[[dict, str], StartedEngine]) -> dict:
    """T is one answer of all the rows on a started engine, warmed on the small input,
    with the prefix cache reset before each run (each run starts cold, like a fresh
    k2batch or Ray Data run)."""
    from jobs.plan.resolve import resolve_job

    checked = {k: resolve_job(spec_for(source, f, root / "out-started")) for k, f in folders.items()}
    contender = engine(checked, source)
    contender.answer("small")  # warm-up: first-request compilation, grammar cache
    runs = []
    for size in _schedule(small_reps, reps):
        contender.reset_prefix_cache()
        sampler = ProcessSampler(interval=SAMPLE_SECONDS)  # no thread: the engine's processes outlive the call
        started = time.monotonic()
        answered = contender.answer(size)
        seconds = time.monotonic() - started
        sampler.sample()
        runs.append({"size": size, "seconds": seconds, "cpu_seconds": sampler.cpu_seconds(), **asdict(answered)})
    contender.shutdown()
    return {"startup_seconds": contender.startup_seconds, "runs": runs}


def _answered(outputs) -> Answered:
    """vLLM RequestOutputs counted."""
    return Answered(rows=len(outputs), prompt_tokens=sum(len(o.prompt_token_ids) for o in outputs),
                    output_tokens=sum(len(o.outputs[0].token_ids) for o in outputs),
                    cached_prompt_tokens=sum(o.num_cached_tokens or 0 for o in outputs))


class RawEngine:
    """(a) the engine alone: one `vllm.LLM.generate` over the token-id prompts."""

    def __init__(self, checked: dict, source: str):
        import vllm

        self.prompts = {k: [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(c)] for k, c in checked.items()}
        self.params = workload.sampling_params(checked["big"])
        started = time.monotonic()
        self.llm = vllm.LLM(**workload.engine_kwargs(checked["big"].spec, source))
        self.startup_seconds = time.monotonic() - started

    def answer(self, size: str) -> Answered:
        return _answered(self.llm.generate(self.prompts[size], self.params, use_tqdm=False))

    def reset_prefix_cache(self) -> None:
        self.llm.reset_prefix_cache()

    def shutdown(self) -> None:
        # vllm.LLM has no call for it; left to the child's exit, the engine core outlives
        # the LLM and the exit waits on it forever.
        self.llm.llm_engine.engine_core.shutdown()


class OnOneLoop:
    """An async engine driven from sync calls, every call on one long-lived event loop
    (vLLM's async client keeps its output handler on the loop of its first request)."""

    def __init__(self):
        import asyncio

        self.loop = asyncio.new_event_loop()

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)


class AsyncEngineAlone(OnOneLoop):
    """(a2) vLLM's async engine client alone, the one k2batch's engine actor drives:
    `AsyncLLM.generate` for every prompt at once, with (a)'s prompts and sampling."""

    def __init__(self, checked: dict, source: str):
        import vllm
        from vllm.usage.usage_lib import UsageContext

        super().__init__()
        self.prompts = {k: workload.prompt_token_ids(c) for k, c in checked.items()}
        self.params = workload.sampling_params(checked["big"])
        started = time.monotonic()
        self.engine = vllm.AsyncLLMEngine.from_engine_args(
            vllm.AsyncEngineArgs(**workload.engine_kwargs(checked["big"].spec, source)), usage_context=UsageContext.LLM_CLASS)
        self.startup_seconds = time.monotonic() - started

    def answer(self, size: str) -> Answered:
        import asyncio

        async def one(request_id: str, ids: list[int]):
            final = None
            async for final in self.engine.generate({"prompt_token_ids": ids}, self.params, request_id=request_id):
                pass
            return final

        async def every():
            tag = time.monotonic_ns()  # request ids unique across runs
            return await asyncio.gather(*(one(f"{tag}-{i}", ids) for i, ids in enumerate(self.prompts[size])))

        return _answered(self.run(every()))

    def reset_prefix_cache(self) -> None:
        self.run(self.engine.reset_prefix_cache())

    def shutdown(self) -> None:
        self.engine.shutdown()


class EngineActorAlone(OnOneLoop):
    """(b2) k2batch's engine actor code (operators/k2_engine.py K2Engine) in one process,
    without Ray: the prepared rows in batches of the spec's batch_size, max_batches_in_flight
    of them at once, as Ray Data feeds the actor one input block; parsing, validation and
    re-asks included."""

    def __init__(self, checked: dict, source: str):
        from jobs.plan.settings_from_spec import flow_plan
        from operators.k2_engine import K2Engine

        super().__init__()
        big = checked["big"]
        self.plan = flow_plan(big, units=big.units, use_gpus=False)
        self.model = big.spec.model
        self.rows = {k: workload.prepared_rows(c) for k, c in checked.items()}
        started = time.monotonic()
        self.k2 = K2Engine(engine=self.plan.engine, task=self.plan.task)
        self.startup_seconds = time.monotonic() - started

    def answer(self, size: str) -> Answered:
        import asyncio

        import pandas as pd

        rows, model = self.rows[size], self.model

        async def every() -> pd.DataFrame:
            room = asyncio.Semaphore(model.max_batches_in_flight)

            async def batch(at: int) -> pd.DataFrame:
                async with room:
                    return await self.k2.answer(rows.iloc[at:at + model.batch_size])

            return pd.concat(await asyncio.gather(*(batch(at) for at in range(0, len(rows), model.batch_size))))

        out = self.run(every())
        return Answered(rows=len(out), prompt_tokens=int(out["_prompt_tokens"].sum()),
                        output_tokens=int(out["_completion_tokens"].sum()),
                        cached_prompt_tokens=int(out["_cached_prompt_tokens"].sum()))

    def reset_prefix_cache(self) -> None:
        self.k2.configure(self.plan.task)  # and a fresh dedup cache: no run reuses another's answers
        self.run(self.k2.engine.reset_prefix_cache())

    def shutdown(self) -> None:
        self.k2.engine.shutdown()


def run_k2batch(source: str, folders: dict, root: Path, *, spec_for, reps: int, small_reps: int) -> dict:
    """(b) `k2batch run`: read, prepare, engine (with re-asks), write, commit, summary."""
    from jobs.driver.run import run_job

    runs = []
    for size in _schedule(small_reps, reps):
        spec = spec_for(source, folders[size], root / "out-k2batch")
        started = time.monotonic()
        with ProcessSampler(interval=SAMPLE_SECONDS) as sampler:
            summary = run_job(spec, report=False).model_dump()  # the peers draw no report after their rows
        runs.append({
            "size": size, "seconds": time.monotonic() - started, "rows": summary["input_rows"],
            "cpu_seconds": sampler.cpu_seconds(),
            "output_tokens": summary["completion_tokens"], "prompt_tokens": summary["prompt_tokens"],
            "records": summary["records"], "rejects": summary["rejects"], "reject_reasons": summary["reject_reasons"],
            "deduplicated_rows": summary["deduplicated_rows"],
        })
    return {"runs": runs}


def _raydata_preprocess(row: dict, *, system_prompt: str, prompt: str, columns: list[str], prime: str, source: str,
                        sampling: dict, id_column: str) -> dict:
    """The same prompt as k2batch's: k2batch's renderer and tokenizer, per row (Ray's
    processors map preprocess over rows)."""
    from operators.render_prompt import Turn, render, to_token_ids
    from operators.tokenizer import load_tokenizer

    user_text = prompt.format(**{c: row[c] for c in columns})
    ids = to_token_ids(render(system_prompt, [Turn("user", user_text)], prime=prime), load_tokenizer(source))
    return {id_column: row[id_column], "tokenized_prompt": ids, "sampling_params": sampling}


def _raydata_postprocess(row: dict) -> dict:
    return {"doc_id": row["doc_id"], "generated_text": row["generated_text"],
            "num_generated_tokens": row["num_generated_tokens"], "num_input_tokens": row["num_input_tokens"]}


def run_raydata(source: str, folders: dict, root: Path, *, spec_for, reps: int, small_reps: int) -> dict:
    """(c) ray.data.llm: chat-template and tokenize stages off (the prompt arrives as
    k2batch's token ids), detokenize off (vLLM already returns the text)."""
    import pyarrow.parquet as pq
    from ray.data.llm import vLLMEngineProcessorConfig

    from jobs.plan.resolve import resolve_job
    from operators.prepare_prompts import first_attempt_prime

    checked = resolve_job(spec_for(source, folders["big"], root / "out-raydata"))
    spec = checked.spec
    sampling = {**workload.sampling_kwargs(checked), "structured_outputs": {"json": json.dumps(workload.constraint(checked))}}
    preprocess = functools.partial(
        _raydata_preprocess, system_prompt=checked.system_prompt, prompt=spec.task.prompt,
        columns=spec.task.prompt_columns, prime=first_attempt_prime(spec.task.prime_tool_call), source=source,
        sampling=sampling, id_column=spec.input.id_column,
    )
    config = vLLMEngineProcessorConfig(
        # batch_size 64 and concurrency 1: the values of ray.data.llm.build_processor's own example
        model_source=source, engine_kwargs=workload.engine_kwargs(spec, source), batch_size=64, concurrency=1,
        placement_group_config={"bundles": [{"CPU": 1}]}, log_engine_metrics=False,
        chat_template_stage=False, tokenize_stage=False, detokenize_stage=False,
    )
    runs = []
    for size in _schedule(small_reps, reps):
        out = root / "out-raydata" / size
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        with ProcessSampler(interval=SAMPLE_SECONDS) as sampler:
            _raydata_run(config, preprocess, spec, folders[size], out)
        seconds = time.monotonic() - started
        table = pq.read_table(out)
        runs.append({
            "size": size, "seconds": seconds, "rows": table.num_rows, "cpu_seconds": sampler.cpu_seconds(),
            "output_tokens": int(sum(table["num_generated_tokens"].to_pylist())),
            "prompt_tokens": int(sum(table["num_input_tokens"].to_pylist())),
        })
    return {"runs": runs}


def _raydata_run(config, preprocess, spec, folder: Path, out: Path) -> None:
    """One whole ray.data.llm run, from a fresh local cluster to the written Parquet."""
    import ray
    from ray.data.llm import build_processor

    # The same local cluster k2batch starts (jobs/driver/ray_session.py): all cores as Ray CPUs.
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, 2), include_dashboard=False,
             runtime_env={"env_vars": workload.engine_env(spec)})
    try:
        processor = build_processor(config, preprocess=preprocess, postprocess=_raydata_postprocess)
        columns = [spec.input.id_column, *spec.task.prompt_columns]
        processor(ray.data.read_parquet(str(folder), columns=columns)).write_parquet(str(out))
    finally:
        ray.shutdown()


CHILDREN = {"vllm": functools.partial(_started_engine_runs, engine=RawEngine),
            "asyncllm": functools.partial(_started_engine_runs, engine=AsyncEngineAlone),
            "k2engine": functools.partial(_started_engine_runs, engine=EngineActorAlone), "k2batch": run_k2batch,
            "raydata": run_raydata}


def run_contender(name: str, source: str, folders: dict, root: Path, *, workload_name: str, reps: int,
                  small_reps: int) -> dict:
    return CHILDREN[name](source, folders, root, spec_for=WORKLOADS[workload_name], reps=reps, small_reps=small_reps)
