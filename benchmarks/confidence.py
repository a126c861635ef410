"""The cost of task.confidence: `k2batch run` rows/s with it off and on, side by side in
one run, for a label job (five declared labels; target on/off at least 0.75x) and for
the demo extract job (target at least 0.9x), each run in its own process with the same
engine settings and input, off and on alternating, RUNS times each: the ratio is of the
medians (single extract runs without confidence took 71 to 86 rows/s on one afternoon).

Rows/s is the input's rows over summary.json's `engine_seconds` (start-up excluded).

Beside them, the extract job's prompts through vLLM alone (one started engine, one
`generate` call per repetition, alternating) with k2batch's sampling, without and with
`logprobs=0`: the part of extract's cost that is vLLM's own per-token log-probabilities.

python -m benchmarks.confidence [--quick] [--model PATH] [--json out.json]
"""

import argparse
import statistics

from benchmarks import workload

TARGETS = {"label": 0.75, "extract": 0.9}
RUNS = 3  # `k2batch run`s of each setting, alternating
ENGINE_REPS = 3  # of each setting, alternating, against a started engine
LABELS = {"politics": "government, councils, elections", "business": "companies, trade, ports",
          "science": "research and universities", "sports": "matches and teams", "culture": "arts, theatres, museums"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CONFIDENCE", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--engine-alone", type=int, metavar="ROWS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "confidence"
    if args.engine_alone:
        workload.emit_child_result(_engine_alone(_spec(source, root, "extract", True, args.engine_alone), source,
                                                 reps=1 if args.quick else ENGINE_REPS))
        return
    if args.child:
        mode, setting, rows = args.child
        workload.emit_child_result(_run(_spec(source, root, mode, setting == "on", int(rows))))
        return
    rows = {"label": 48 if args.quick else 960, "extract": 16 if args.quick else 480}
    model_args = ["--model", args.model] if args.model else []
    results = {"targets": TARGETS, "modes": {}}
    for mode in ("label", "extract"):
        workload.write_news_rows(root / f"news-{mode}", rows=rows[mode], files=1)
        env = workload.engine_env(_spec(source, root, mode, False, rows[mode]))
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        reps = 1 if args.quick else RUNS
        for rep in range(reps):
            for setting in ("off", "on"):
                print(f"{mode}, confidence {setting}: {rows[mode]} rows (run {rep + 1} of {reps}) ...", flush=True)
                runs[setting].append(workload.run_child(
                    "confidence", ["--child", mode, setting, str(rows[mode]), *model_args],
                    env=env, log=root / f"{mode}-{setting}-{rep}.log"))
        rates = {setting: workload.summarize([run["rows_per_s"] for run in runs[setting]]) for setting in runs}
        results["modes"][mode] = {"rows": rows[mode], "runs": runs, "rows_per_s": rates,
                                  "ratio": rates["on"]["median"] / rates["off"]["median"]}
    print(f"extract prompts through vLLM alone, logprobs off and on: {rows['extract']} rows ...", flush=True)
    results["engine_alone"] = workload.run_child(
        "confidence", ["--engine-alone", str(rows["extract"]), *(["--quick"] if args.quick else []), *model_args],
        env=workload.engine_env(_spec(source, root, "extract", True, rows["extract"])), log=root / "engine-alone.log")
    workload.write_results(args.json, results)
    for mode, r in results["modes"].items():
        off, on = r["rows_per_s"]["off"], r["rows_per_s"]["on"]
        print(f"{mode}: off {off['median']:.2f} rows/s, on {on['median']:.2f} rows/s (medians); "
              f"on / off = {r['ratio']:.2f} (target {TARGETS[mode]})")
    e = results["engine_alone"]
    print(f"vLLM alone: logprobs off {e['off']['median']:.2f} rows/s, on {e['on']['median']:.2f} rows/s; on / off = {e['ratio']:.2f}")


def _spec(source, root, mode: str, confidence: bool, rows: int):
    task = {"confidence": confidence}
    if mode == "label":
        task = {**task, "mode": "label", "labels": LABELS, "prompt": "What is this article about?\n\n{body}",
                "schema": None, "tool_name": None, "tool_description": None}
    return workload.job_spec(name=f"bench-confidence-{mode}-{'on' if confidence else 'off'}", model=source,
                             input_uri=root / f"news-{mode}", output_uri=root / f"out-{mode}-{confidence}", task=task,
                             temperature=0.0, **({"max_tokens": 64} if mode == "label" else {}))


def _run(spec) -> dict:
    from jobs.driver.run import run_job

    summary = run_job(spec)
    confidence = summary.confidence.quantiles.get("p50") if summary.confidence else None
    return {"input_rows": summary.input_rows, "records": summary.records, "rejects": summary.rejects,
            "engine_seconds": summary.engine_seconds, "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens, "median_confidence": confidence,
            "rows_per_s": summary.input_rows / summary.engine_seconds}


def _engine_alone(spec, source: str, *, reps: int) -> dict:
    """The extract job's first-attempt prompts through one `vllm.LLM` with k2batch's engine
    arguments and sampling, `generate` timed without and with `logprobs=0` (what extract
    confidence adds to a request), alternating, the prefix cache reset before each."""
    import vllm

    from jobs.plan.resolve import resolve_job
    from operators.sampling import sampling_params

    checked = resolve_job(spec)
    prompts = [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(checked)]
    fields = workload.sampling_kwargs(checked)
    params = {"off": sampling_params(fields), "on": sampling_params({**fields, "logprobs": 0, "flat_logprobs": True})}
    llm = vllm.LLM(**workload.engine_kwargs(spec, source))
    llm.generate(prompts[:32], params["on"], use_tqdm=False)  # warm-up: first-request compilation, grammar cache
    runs = workload.alternating_generates(llm, prompts, params, reps=reps)
    result = {setting: {**workload.summarize(r["rows_per_s"]), "completion_tokens": r["output_tokens"][0]}
              for setting, r in runs.items()}
    return {**result, "rows": len(prompts), "ratio": result["on"]["median"] / result["off"]["median"]}


def render_section(r: dict, runs: dict) -> list[str]:
    """BENCHMARKS.md's section (benchmarks/report.py)."""
    apart = max(max(run["completion_tokens"] for run in setting_runs) - min(run["completion_tokens"] for run in setting_runs)
                for m in r["modes"].values() for setting_runs in m["runs"].values())
    out = ["`k2batch run` with task.confidence off and on, alternating, each run in its own process, temperature 0. "
           "Rows/s = input rows / summary.json's `engine_seconds`; the ratio is of the medians. Tokens and the "
           f"median confidence are the first run's (the runs of a setting differ by at most {apart} completion "
           f"token{'' if apart == 1 else 's'}).", "",
           "| job | confidence | rows/s | engine s (median) | prompt tokens | completion tokens | median confidence |",
           "|---|---|---|---|---|---|---|"]
    for mode, m in r["modes"].items():
        for setting in ("off", "on"):
            setting_runs, rate = m["runs"][setting], m["rows_per_s"][setting]
            first = setting_runs[0]
            median = "-" if first["median_confidence"] is None else f"{first['median_confidence']:.2f}"
            seconds = statistics.median(run["engine_seconds"] for run in setting_runs)
            out.append(f"| {mode} ({m['rows']} rows) | {setting} | {workload.fmt(rate, digits=2)} | {seconds:.1f} "
                       f"| {first['prompt_tokens']:,} | {first['completion_tokens']:,} | {median} |")
    out.append("")
    for mode, m in r["modes"].items():
        out.append(f"- {mode}: on / off = **{m['ratio']:.2f}x** (target at least {r['targets'][mode]}x)")
    if e := r.get("engine_alone"):
        out += ["", f"The extract job's {e['rows']} first-attempt prompts through vLLM alone (one started `vllm.LLM` "
                "with k2batch's engine arguments and sampling; `generate` without and with `logprobs=0`, alternating, "
                "the prefix cache reset before each): "
                f"{workload.fmt(e['off'], digits=2)} against {workload.fmt(e['on'], digits=2)} rows/s, "
                f"completion tokens {e['off']['completion_tokens']:,} and {e['on']['completion_tokens']:,}: "
                f"**{e['ratio']:.2f}x** from vLLM's per-token log-probabilities alone (its sampler, the engine core's "
                "output and the frontend's per-request processing), before k2batch attributes a token to a field."]
    return out + [""]


if __name__ == "__main__":
    main()
