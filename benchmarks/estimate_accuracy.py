"""Estimate accuracy: `k2batch estimate` on a random sample, then the whole job on the
same input, each in its own process (one engine each); the projected completion tokens
and engine time against the run's measured ones (targets: within ±25% and ±50%).

The run's engine time is summary.json's `engine_seconds` (each replica's first batch in
to last answer out, start-up excluded), which is what the estimate projects.

python -m benchmarks.estimate_accuracy [--quick] [--model PATH] [--json out.json]
"""

import argparse
from pathlib import Path

from benchmarks import workload

TARGET_TOKENS_ERROR = 0.25
TARGET_ENGINE_ERROR = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="input rows (default 480; quick 48)")
    parser.add_argument("--sample", type=int, default=None, help="the estimate's sample (default 64; quick 16)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--child", choices=["estimate", "run"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "estimate_accuracy"
    rows = args.rows or (48 if args.quick else 480)
    sample = args.sample or (16 if args.quick else 64)
    spec = workload.job_spec(name="bench-estimate", model=source, input_uri=root / "news", output_uri=root / "out")
    if args.child:
        workload.emit_child_result(_child(args.child, spec, sample))
        return
    workload.write_news_rows(root / "news", rows=rows, files=4)
    model_args = ["--model", args.model] if args.model else []
    env = workload.engine_env(spec)
    runs = {}
    for child in ("estimate", "run"):
        print(f"{child}: {rows} rows{f', sample {sample}' if child == 'estimate' else ''} ...", flush=True)
        runs[child] = workload.run_child("estimate_accuracy", ["--child", child, "--rows", str(rows), "--sample", str(sample),
                                                               *model_args], env=env, log=root / f"{child}.log")
    estimate, run = runs["estimate"], runs["run"]
    results = {"rows": rows, "sample": sample, "target_tokens_error": TARGET_TOKENS_ERROR,
               "target_engine_error": TARGET_ENGINE_ERROR, "estimate": estimate, "run": run}
    for name, measured in (("completion_tokens", run["completion_tokens"]), ("engine_seconds", run["engine_seconds"])):
        projected = estimate[name]
        results[name] = {"projected": projected, "measured": measured, "error": projected["value"] / measured - 1,
                         "within_range": projected["low"] <= measured <= projected["high"]}
    workload.write_results(args.json, results)
    for name in ("completion_tokens", "engine_seconds"):
        r = results[name]
        p = r["projected"]
        print(f"{name}: projected {p['value']:,.1f} ({p['low']:,.1f} - {p['high']:,.1f}), measured {r['measured']:,.1f}: "
              f"error {r['error']:+.1%}{'' if r['within_range'] else ', outside the range'}")
    print(f"errors: completion tokens {results['completion_tokens']['error']:+.1%} (target ±{TARGET_TOKENS_ERROR:.0%}), "
          f"engine time {results['engine_seconds']['error']:+.1%} (target ±{TARGET_ENGINE_ERROR:.0%})")


def _child(child: str, spec, sample: int) -> dict:
    if child == "estimate":
        from jobs.driver.estimate import estimate_job

        return estimate_job(spec, sample=sample).model_dump(mode="json")
    from jobs.driver.run import run_job

    summary = run_job(spec).model_dump()
    return {key: summary[key] for key in ("input_rows", "records", "rejects", "completion_tokens", "prompt_tokens",
                                          "engine_seconds", "wall_seconds")}


if __name__ == "__main__":
    main()
