"""Engine ceiling: k2batch vs one vLLM.generate call vs Ray Data's own ray.data.llm.

Same rows, same rendered prompts (k2batch's PreparePrompts), same constraint and
sampling (benchmarks/workload.py), same engine arguments, same cores and
VLLM_CPU_OMP_THREADS_BIND (all cores, the binding k2batch picks) for all three:
  (a) vllm: one `vllm.LLM.generate` over all prompts, in one process;
  (b) k2batch: `jobs.driver.run.run_job` over the rows as Parquet, read to committed write;
  (c) raydata: `ray.data.llm` vLLMEngineProcessorConfig + build_processor, read_parquet
      to write_parquet, CPU settings from its docs (one {"CPU": 1} bundle, no engine metrics).

Start-up excluded by subtraction, the same way for all three: each contender processes
a small input (n rows) and the full input (N rows); rows/s = (N - n) / (T(N) - T(n)).
For (a) both are generate() calls on a started, warmed engine with the prefix cache
reset before each; for (b) and (c) both are whole runs, so Ray start, engine start and
every other fixed cost cancel out (T(n) is reported as the fixed cost).

python -m benchmarks.engine_ceiling [--quick] [--model PATH] [--json out.json]
"""

import argparse
import functools
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from benchmarks import workload
from benchmarks.processes import GROUPS, ProcessSampler

CONTENDERS = ("vllm", "k2batch", "raydata")
# psutil samples of every process of a run, for the CPU seconds each part of it took:
# rare enough that the sampling itself costs well under 1% of a core.
SAMPLE_SECONDS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="N, the full input (default 1280; quick 24)")
    parser.add_argument("--small", type=int, default=None, help="n, the small input (default 32; quick 8)")
    parser.add_argument("--reps", type=int, default=None, help="runs of N per contender (default 3; quick 1)")
    parser.add_argument("--small-reps", type=int, default=None, help="runs of n per contender (default 3; quick 1)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    # N large enough that the work T(N) - T(n) dwarfs the run-to-run noise of a whole
    # run's fixed cost (seconds, for Ray and engine start): at N = 320 it did not.
    rows = args.rows or (24 if args.quick else 1280)
    small = args.small or (8 if args.quick else 32)
    reps = args.reps or (1 if args.quick else 3)
    small_reps = args.small_reps or (1 if args.quick else 3)
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "engine_ceiling"
    folders = {"small": root / f"rows-{small}", "big": root / f"rows-{rows}"}
    if args.contender:
        workload.emit_child_result(CHILDREN[args.contender](source, folders, root, reps=reps, small_reps=small_reps))
        return
    for name, count in (("small", small), ("big", rows)):
        workload.write_news_rows(folders[name], rows=count, files=4)
    spec = _spec(source, folders["big"], root / "out")
    env = workload.engine_env(spec)
    child_args = ["--rows", str(rows), "--small", str(small), "--reps", str(reps), "--small-reps", str(small_reps)]
    if args.model:
        child_args += ["--model", args.model]
    raw = {}
    for contender in CONTENDERS:
        print(f"running {contender} ...", flush=True)
        raw[contender] = workload.run_child("engine_ceiling", [*child_args, "--contender", contender], env=env,
                                            log=root / f"{contender}.log")
    results = _results(raw, rows=rows, small=small, env=env)
    workload.write_results(args.json, results)
    _report(results)


def _spec(source: str, folder: Path, out: Path, name: str = "bench-ceiling"):
    return workload.job_spec(name=name, model=source, input_uri=folder, output_uri=out)


def _schedule(small_reps: int, reps: int) -> list[str]:
    """Small and full runs interleaved, so a slow drift of the machine hits both alike."""
    order = []
    for i in range(max(small_reps, reps)):
        order += (["small"] if i < small_reps else []) + (["big"] if i < reps else [])
    return order


def run_vllm(source: str, folders: dict, root: Path, *, reps: int, small_reps: int) -> dict:
    """(a) the engine alone: LLM.generate over token-id prompts."""
    import vllm

    from jobs.plan.resolve import resolve_job

    checked = {k: resolve_job(_spec(source, f, root / "out-vllm")) for k, f in folders.items()}
    prompts = {k: [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(c)] for k, c in checked.items()}
    started = time.monotonic()
    llm = vllm.LLM(**workload.engine_kwargs(checked["big"].spec, source))
    startup = time.monotonic() - started
    params = workload.sampling_params(checked["big"])
    llm.generate(prompts["small"], params, use_tqdm=False)  # warm-up: first-request compilation, grammar cache
    runs = []
    for size in _schedule(small_reps, reps):
        llm.reset_prefix_cache()  # each run starts cold, like a fresh k2batch or Ray Data run
        sampler = ProcessSampler(interval=SAMPLE_SECONDS)  # no thread: the engine's processes outlive the call
        started = time.monotonic()
        outputs = llm.generate(prompts[size], params, use_tqdm=False)
        seconds = time.monotonic() - started
        sampler.sample()
        runs.append({
            "size": size, "seconds": seconds, "rows": len(outputs), "cpu_seconds": sampler.cpu_seconds(),
            "output_tokens": sum(len(o.outputs[0].token_ids) for o in outputs),
            "prompt_tokens": sum(len(o.prompt_token_ids) for o in outputs),
            "cached_prompt_tokens": sum(o.num_cached_tokens or 0 for o in outputs),
            "finish_length": sum(o.outputs[0].finish_reason == "length" for o in outputs),
        })
    return {"startup_seconds": startup, "runs": runs}


def run_k2batch(source: str, folders: dict, root: Path, *, reps: int, small_reps: int) -> dict:
    """(b) `k2batch run`: read, prepare, engine (with re-asks), write, commit, summary."""
    from jobs.driver.run import run_job

    runs = []
    for size in _schedule(small_reps, reps):
        spec = _spec(source, folders[size], root / "out-k2batch")
        started = time.monotonic()
        with ProcessSampler(interval=SAMPLE_SECONDS) as sampler:
            summary = run_job(spec, report=False).model_dump()  # the peers draw no report after their rows
        runs.append({
            "size": size, "seconds": time.monotonic() - started, "rows": summary["input_rows"],
            "cpu_seconds": sampler.cpu_seconds(),
            "output_tokens": summary["completion_tokens"], "prompt_tokens": summary["prompt_tokens"],
            "records": summary["records"], "rejects": summary["rejects"], "reject_reasons": summary["reject_reasons"],
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


def run_raydata(source: str, folders: dict, root: Path, *, reps: int, small_reps: int) -> dict:
    """(c) ray.data.llm: chat-template and tokenize stages off (the prompt arrives as
    k2batch's token ids), detokenize off (vLLM already returns the text)."""
    import pyarrow.parquet as pq
    from ray.data.llm import vLLMEngineProcessorConfig

    from jobs.plan.resolve import resolve_job
    from operators.prepare_prompts import first_attempt_prime

    checked = resolve_job(_spec(source, folders["big"], root / "out-raydata"))
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


CHILDREN = {"vllm": run_vllm, "k2batch": run_k2batch, "raydata": run_raydata}


def _results(raw: dict, *, rows: int, small: int, env: dict) -> dict:
    results = {"rows": rows, "small_rows": small, "binding": env["VLLM_CPU_OMP_THREADS_BIND"],
               "cores": len(os.sched_getaffinity(0)),
               "kv_cache_gib": env["VLLM_CPU_KVCACHE_SPACE"], "contenders": {}}
    for name, data in raw.items():
        smalls = [r for r in data["runs"] if r["size"] == "small"]
        bigs = [r for r in data["runs"] if r["size"] == "big"]
        for r in data["runs"]:
            expected = rows if r["size"] == "big" else small
            if r["rows"] != expected:
                raise RuntimeError(f"{name} returned {r['rows']} rows for an input of {expected}")
        fixed = workload.summarize([r["seconds"] for r in smalls])
        fixed_tokens = sum(r["output_tokens"] for r in smalls) / len(smalls)
        # each full run against the median small run: the spread shows both runs' noise
        if any(r["seconds"] <= fixed["median"] for r in bigs):
            results.setdefault("warnings", []).append(
                f"{name}: a full run took no longer than the median small run ({fixed['median']:.1f} s): the noise of "
                "the fixed cost exceeds the work, so its rates mean nothing; use a larger --rows or a quiet machine")
        rates = [(rows - small) / (r["seconds"] - fixed["median"]) for r in bigs]
        # CPU seconds per 1,000 rows of each part of the run, by the same subtraction as
        # rows/s, from the full run of median rows/s: its CPU and its wall time go together.
        fixed_cpu = {g: statistics.median(r["cpu_seconds"][g] for r in smalls) for g in GROUPS}
        median_run = sorted(zip(rates, bigs), key=lambda pair: pair[0])[(len(bigs) - 1) // 2]
        cpu_per_1000 = {g: (median_run[1]["cpu_seconds"][g] - fixed_cpu[g]) * 1000 / (rows - small) for g in GROUPS}
        token_rates = [(r["output_tokens"] - fixed_tokens) / (r["seconds"] - fixed["median"]) for r in bigs]
        entry = {
            "rows_per_s": workload.summarize(rates), "output_tokens_per_s": workload.summarize(token_rates),
            "full_run_seconds": workload.summarize([r["seconds"] for r in bigs]), "small_run_seconds": fixed,
            "output_tokens_per_row": sum(r["output_tokens"] for r in bigs) / sum(r["rows"] for r in bigs),
            "prompt_tokens_per_row": sum(r["prompt_tokens"] for r in bigs) / sum(r["rows"] for r in bigs),
            "cpu_seconds_per_1000_rows": cpu_per_1000, "cpu_run_rows_per_s": median_run[0],
            "runs": data["runs"],
        }
        if "startup_seconds" in data:
            entry["engine_startup_seconds"] = data["startup_seconds"]
            entry["prefix_cache_hit_rate"] = sum(r["cached_prompt_tokens"] for r in bigs) / sum(r["prompt_tokens"] for r in bigs)
        results["contenders"][name] = entry
    c = results["contenders"]
    results["ratio_b_a"] = c["k2batch"]["rows_per_s"]["median"] / c["vllm"]["rows_per_s"]["median"]
    results["ratio_b_c"] = c["k2batch"]["rows_per_s"]["median"] / c["raydata"]["rows_per_s"]["median"]
    return results


def _report(results: dict) -> None:
    print(f"N = {results['rows']} rows, n = {results['small_rows']} rows; all contenders: "
          f"VLLM_CPU_OMP_THREADS_BIND={results['binding']} (every core, operators.engine_settings.cpu_threads_bind), "
          f"VLLM_CPU_KVCACHE_SPACE={results['kv_cache_gib']}")
    print("start-up excluded by subtraction: rows/s = (N - n) / (T(N) - T(n)), same for all three")
    for name, label in (("vllm", "(a) vllm.LLM.generate"), ("k2batch", "(b) k2batch run"), ("raydata", "(c) ray.data.llm")):
        c = results["contenders"][name]
        print(f"{label}: {workload.fmt(c['rows_per_s'], ' rows/s')}; {workload.fmt(c['output_tokens_per_s'], ' output tokens/s')}; "
              f"{c['output_tokens_per_row']:.0f} output / {c['prompt_tokens_per_row']:.0f} prompt tokens per row; "
              f"fixed cost T(n) {workload.fmt(c['small_run_seconds'], ' s')}")
    print(f"(a) engine start-up: {results['contenders']['vllm']['engine_startup_seconds']:.1f} s")
    print("CPU seconds per 1000 rows, (a) / (b) / (c):")
    for group in GROUPS:
        print(f"  {group}: " + " / ".join(f"{results['contenders'][n]['cpu_seconds_per_1000_rows'][group]:.1f}"
                                        for n in CONTENDERS))
    print(f"ratio b/c = {results['ratio_b_c']:.2f}")
    print(f"ratio b/a = {results['ratio_b_a']:.2f}")


if __name__ == "__main__":
    main()
