"""Prefix cache: how much of an extract job's prompt tokens vLLM serves from its prefix
cache (the tool system prompt is shared by every row), and throughput with
enable_prefix_caching on vs off.

The prompts are the extract job's first-attempt prompts, rendered by k2batch's
PreparePrompts; the engine arguments, constraint, sampling and thread binding are
K2Engine's (benchmarks/workload.py). Each setting runs in its own process and engine;
timed generate() calls start from an empty cache (reset_prefix_cache), as a job does.
The on/off throughput ratio is printed only when both settings processed the same prompt
and output tokens per row (workload.EQUAL_WORK_TOLERANCE).
Hit rate, from vLLM's own counters: RequestOutput.num_cached_tokens summed over
requests / prompt tokens, and the engine's prefix_cache_hits / prefix_cache_queries;
then a `k2batch run` of the same rows, whose summary.json sums the same per-request
counts (cached_prompt_tokens / prompt_tokens, re-asks included).

python -m benchmarks.prefix_cache [--quick] [--model PATH] [--json out.json]
"""

import argparse
import time

from benchmarks import workload

TARGET_HIT_RATE = 0.80


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="rows per timed run (default 256; quick 16)")
    parser.add_argument("--reps", type=int, default=None, help="timed runs per setting (default 3; quick 1)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--setting", choices=("on", "off", "k2batch"), help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    rows = args.rows or (16 if args.quick else 256)
    reps = args.reps or (1 if args.quick else 3)
    source = workload.model_source(args.model)
    folder = workload.WORKDIR / "prefix_cache" / f"rows-{rows}"
    if args.setting == "k2batch":
        workload.emit_child_result(run_k2batch(source, folder))
        return
    if args.setting:
        workload.emit_child_result(run_setting(source, folder, enabled=args.setting == "on", reps=reps))
        return
    workload.write_news_rows(folder, rows=rows, files=1, unique=True)  # a repeated prompt would be a full cache hit
    env = workload.engine_env(_spec(source, folder, enabled=True))
    child_args = ["--rows", str(rows), "--reps", str(reps), *(["--model", args.model] if args.model else [])]
    settings = {}
    for setting in ("on", "off"):
        print(f"prefix caching {setting} ...", flush=True)
        settings[setting] = workload.run_child("prefix_cache", [*child_args, "--setting", setting], env=env,
                                               log=workload.WORKDIR / "prefix_cache" / f"{setting}.log")
    print("k2batch run ...", flush=True)
    job = workload.run_child("prefix_cache", [*child_args, "--setting", "k2batch"], env=env,
                             log=workload.WORKDIR / "prefix_cache" / "k2batch.log")
    on, off = settings["on"], settings["off"]
    results = {
        "rows": rows, "binding": env["VLLM_CPU_OMP_THREADS_BIND"], "target_hit_rate": TARGET_HIT_RATE,
        "hit_rate": on["cached_prompt_tokens"] / on["prompt_tokens"],
        "engine_counter_hit_rate": on["counter_hits"] / on["counter_queries"] if on.get("counter_queries") else None,
        "prompt_tokens_per_row": on["prompt_tokens"] / rows,
        "rows_per_s": {"on": workload.summarize(on["rows_per_s"]), "off": workload.summarize(off["rows_per_s"])},
        "output_tokens_per_s": {"on": workload.summarize(on["output_tokens_per_s"]),
                                "off": workload.summarize(off["output_tokens_per_s"])},
        "off_cached_prompt_tokens": off["cached_prompt_tokens"],
        "k2batch_hit_rate": job["cached_prompt_tokens"] / job["prompt_tokens"],
    }
    results["unequal_work"] = workload.unequal_work({f"prefix caching {k}": (settings[k]["prompt_tokens"] / rows,
                                                                           settings[k]["output_tokens"] / rows)
                                                     for k in ("on", "off")})
    results["throughput_on_off"] = (None if results["unequal_work"] else
                                    results["rows_per_s"]["on"]["median"] / results["rows_per_s"]["off"]["median"])
    workload.write_results(args.json, results)
    print(f"{rows} rows, {results['prompt_tokens_per_row']:.0f} prompt tokens per row, "
          f"VLLM_CPU_OMP_THREADS_BIND={results['binding']}")
    counter = results["engine_counter_hit_rate"]
    print(f"prefix cache hit rate: {results['hit_rate']:.1%} of prompt tokens (num_cached_tokens); engine counters: "
          + (f"{counter:.1%}" if counter is not None else "not available") + f"; target above {TARGET_HIT_RATE:.0%}")
    for setting in ("on", "off"):
        print(f"prefix caching {setting}: {workload.fmt(results['rows_per_s'][setting], ' rows/s')}; "
              f"{workload.fmt(results['output_tokens_per_s'][setting], ' output tokens/s')}")
    print(f"k2batch run's summary.json: {results['k2batch_hit_rate']:.1%} of prompt tokens cached")
    print(f"no throughput ratio: {results['unequal_work']}" if results["unequal_work"]
          else f"throughput on/off = {results['throughput_on_off']:.2f}")
    print(f"ratio cached/prompt tokens = {results['hit_rate']:.2f}")


def _spec(source: str, folder, *, enabled: bool):
    return workload.job_spec(name="bench-prefix", model=source, input_uri=folder,
                             output_uri=workload.WORKDIR / "prefix_cache" / "out", enable_prefix_caching=enabled)


def run_k2batch(source: str, folder) -> dict:
    """The whole job, for the hit rate k2batch itself reports."""
    from jobs.driver.run import run_job

    summary = run_job(_spec(source, folder, enabled=True)).model_dump()
    return {"prompt_tokens": summary["prompt_tokens"], "cached_prompt_tokens": summary["cached_prompt_tokens"]}


def run_setting(source: str, folder, *, enabled: bool, reps: int) -> dict:
    import vllm

    from jobs.plan.resolve import resolve_job

    checked = resolve_job(_spec(source, folder, enabled=enabled))
    prompts = [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(checked)]
    # disable_log_stats=False: the engine keeps the prefix-cache counters get_metrics() reads
    llm = vllm.LLM(**{**workload.engine_kwargs(checked.spec, source), "disable_log_stats": False})
    params = workload.sampling_params(checked)
    llm.generate(prompts[:4], params, use_tqdm=False)  # warm-up: first-request compilation, grammar cache
    result = {"rows_per_s": [], "output_tokens_per_s": []}
    for rep in range(reps):
        llm.reset_prefix_cache()
        before = _counters(llm)
        started = time.monotonic()
        outputs = llm.generate(prompts, params, use_tqdm=False)
        seconds = time.monotonic() - started
        after = _counters(llm)
        result["rows_per_s"].append(len(outputs) / seconds)
        result["output_tokens_per_s"].append(sum(len(o.outputs[0].token_ids) for o in outputs) / seconds)
        if rep == 0:  # every repetition starts from an empty cache: the first one's counts stand for all
            result["prompt_tokens"] = sum(len(o.prompt_token_ids) for o in outputs)
            result["output_tokens"] = sum(len(o.outputs[0].token_ids) for o in outputs)
            result["cached_prompt_tokens"] = sum(o.num_cached_tokens or 0 for o in outputs)
            if before is not None and after is not None:
                result["counter_queries"] = after[0] - before[0]
                result["counter_hits"] = after[1] - before[1]
    return result


def _counters(llm) -> tuple[float, float] | None:
    """(prefix_cache_queries, prefix_cache_hits) in tokens, from the engine's metrics."""
    try:
        metrics = {m.name: m for m in llm.get_metrics()}
    except Exception:  # metrics are an optional engine feature; the per-request counts remain
        return None
    queries, hits = metrics.get("vllm:prefix_cache_queries"), metrics.get("vllm:prefix_cache_hits")
    if queries is None or hits is None:
        return None
    return float(queries.value), float(hits.value)


if __name__ == "__main__":
    main()
