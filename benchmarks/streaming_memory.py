"""Streaming memory: peak resident memory of the driver and of the workers when the
input grows 10x (N vs 10N rows, the same rows per file, 10x the files).

A label-like job keeps generation short (a one-field schema, small max_tokens), so
the run measures the framework's memory, not the engine's answers. Each size runs
`k2batch run` (jobs.driver.run.run_job) in a fresh process, which samples every process of
its local Ray cluster every 0.1 s (benchmarks/processes.py) and keeps per-group peaks:
the driver, the engine actor, its vLLM engine core and model worker, the other Ray
Data workers (read, prepare, write), and Ray's own daemons (raylet with the object
store, GCS).

python -m benchmarks.streaming_memory [--quick] [--model PATH] [--json out.json]
"""

import argparse
import os
import resource
import time
from pathlib import Path

from benchmarks import workload
from benchmarks.processes import GROUPS, ProcessSampler

TARGET_RATIO = 1.3
ROWS_PER_FILE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="N (default 100; quick 16); the large input is 10N")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # child mode: run the job on this input
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "streaming_memory"
    if args.folder:
        workload.emit_child_result(run_measured(_spec(source, Path(args.folder), root)))
        return
    rows = args.rows or (16 if args.quick else 100)
    per_file = min(ROWS_PER_FILE, rows)
    sizes = {"N": rows, "10N": 10 * rows}
    env = workload.engine_env(_spec(source, root, root))
    measured = {}
    for label, count in sizes.items():
        folder = workload.write_news_rows(root / f"rows-{count}", rows=count, files=count // per_file)
        print(f"{label} = {count} rows in {count // per_file} files ...", flush=True)
        measured[label] = workload.run_child("streaming_memory", ["--folder", str(folder), *(["--model", args.model] if args.model else [])],
                                             env=env, log=root / f"{label}.log")
    ratios = {g: measured["10N"]["peak_mib"][g] / measured["N"]["peak_mib"][g]
              for g in GROUPS if measured["N"]["peak_mib"].get(g) and measured["10N"]["peak_mib"].get(g)}
    workers_total = {k: measured[k]["peak_workers_total_mib"] for k in sizes}
    ratios["all workers together"] = workers_total["10N"] / workers_total["N"]
    results = {"rows": sizes, "rows_per_file": per_file, "target_ratio": TARGET_RATIO, "runs": measured, "ratios": ratios,
               "binding": env["VLLM_CPU_OMP_THREADS_BIND"]}
    results["worst_group"] = max(ratios, key=ratios.get)
    workload.write_results(args.json, results)
    print(f"label job, max_tokens {measured['N']['max_tokens']}; {per_file} rows per file")
    for group in (*GROUPS, "all workers together"):
        if group not in ratios:
            continue
        key = "peak_workers_total_mib" if group == "all workers together" else None
        n = measured["N"][key] if key else measured["N"]["peak_mib"][group]
        big = measured["10N"][key] if key else measured["10N"]["peak_mib"][group]
        print(f"{group}: peak {n:.0f} MiB at N, {big:.0f} MiB at 10N, ratio {ratios[group]:.2f}")
    for label in sizes:
        print(f"{label}: {measured[label]['rows']} rows in {measured[label]['seconds']:.1f} s "
              f"({measured[label]['records']} records, {measured[label]['rejects']} rejects)")
    print(f"ratio peak RSS 10N/N = {ratios['driver']:.2f} driver, "
          f"{ratios[results['worst_group']]:.2f} worst ({results['worst_group']})")


def _spec(source: str, folder: Path, root: Path):
    return workload.job_spec(
        name="bench-memory", model=source, input_uri=folder, output_uri=root / "out",
        task={"schema": "benchmarks.bench_schemas:ArticleTopic", "schema_modules": ["benchmarks.bench_schemas"],
              "tool_name": "record_topic", "tool_description": "Record the topic of a news article.",
              "prompt": "Label the topic of this article:\n\n{body}"},
        max_tokens=64,
    )


def run_measured(spec) -> dict:
    """Run the job while sampling the RSS of this process and all its descendants."""
    from jobs.driver.run import run_job

    started = time.monotonic()
    with ProcessSampler(interval=0.1) as sampler:
        summary = run_job(spec).model_dump()
    mib = 1024 * 1024
    return {
        "rows": summary["input_rows"], "records": summary["records"], "rejects": summary["rejects"],
        "seconds": time.monotonic() - started, "max_tokens": spec.model.max_tokens,
        "peak_mib": {g: v / mib for g, v in sampler.peak_rss.items()},
        "peak_workers_total_mib": sampler.peak_rss_workers_total / mib,
        "driver_ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pid": os.getpid(),
    }


if __name__ == "__main__":
    main()
