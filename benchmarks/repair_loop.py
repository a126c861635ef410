"""Repair loop cost: `k2batch run` throughput with max_attempts 1 vs 3 on a schema that
refuses a known share of answers (benchmarks/bench_schemas.py:EveryThirdRejected: the
demo schema plus a rule that refuses exactly 30% of the answers it sees, which
constrained decoding cannot prevent).

With 1 attempt, 30% of rows become rejects; with 3, a refused row is re-asked (its
prompt grows by the answer and the error), so about 1/(1 - 0.3) = 1.43 generations per
row and 0.3^3 = 2.7% rejects are expected. Start-up is excluded as in engine_ceiling:
small runs (n rows, max_attempts 1; the median of 3, between and around the full runs)
measure the fixed cost, and rows/s = (N - n) / (T(N) - T(n)) for each setting. N is
large enough that T(N) - T(n) is many times the noise of a whole run's fixed cost.

python -m benchmarks.repair_loop [--quick] [--model PATH] [--json out.json]
"""

import argparse
import statistics
import time
from pathlib import Path

from benchmarks import workload
from benchmarks.bench_schemas import REJECTED_SHARE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="N (default 1280; quick 24)")
    parser.add_argument("--small", type=int, default=None, help="n, the fixed-cost runs (default 32; quick 8)")
    parser.add_argument("--small-reps", type=int, default=None, help="fixed-cost runs (default 3; quick 1)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--folder", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--attempts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "repair_loop"
    if args.folder:
        workload.emit_child_result(run_once(_spec(source, Path(args.folder), root, args.attempts)))
        return
    rows = args.rows or (24 if args.quick else 1280)
    small = args.small or (8 if args.quick else 32)
    small_reps = args.small_reps or (1 if args.quick else 3)
    folders = {n: workload.write_news_rows(root / f"rows-{n}", rows=n, files=4, unique=True) for n in (small, rows)}
    env = workload.engine_env(_spec(source, folders[rows], root, 1))
    model_args = ["--model", args.model] if args.model else []
    runs, fixed_runs = {}, []
    # the fixed cost measured before, between and after the full runs
    fixed_run = ("fixed", small, 1)
    schedule = [fixed_run, ("attempts 1", rows, 1), *[fixed_run][:small_reps - 1], ("attempts 3", rows, 3),
                *[fixed_run] * (small_reps - 2)]
    for i, (label, count, attempts) in enumerate(schedule):
        print(f"{label}: {count} rows, max_attempts {attempts} ...", flush=True)
        run = workload.run_child("repair_loop", ["--folder", str(folders[count]), "--attempts", str(attempts), *model_args],
                                 env=env, log=root / f"{i}-{label.replace(' ', '-')}.log")
        if label == "fixed":
            fixed_runs.append(run["seconds"])
        else:
            runs[label] = run
    fixed = statistics.median(fixed_runs)
    results = {"rows": rows, "small_rows": small, "rejected_share": REJECTED_SHARE, "fixed_seconds": fixed,
               "fixed_runs_seconds": fixed_runs,
               "binding": env["VLLM_CPU_OMP_THREADS_BIND"], "settings": {}}
    for label in ("attempts 1", "attempts 3"):
        run = runs[label]
        marginal = run["seconds"] - fixed
        if marginal <= 0:
            results.setdefault("warnings", []).append(
                f"{label}: the full run took no longer than the fixed-cost run ({fixed:.1f} s): noise exceeds the work, "
                "so its rates mean nothing; use a larger --rows or a quiet machine")
        results["settings"][label] = {
            **run,
            "rows_per_s": (rows - small) / marginal,
            "records_per_s": (rows - small) / marginal * run["records"] / run["rows"],  # rows/s times the record share
            "generations_per_row": run["generations"] / run["rows"],
            "reject_share": run["rejects"] / run["rows"],
        }
    one, three = results["settings"]["attempts 1"], results["settings"]["attempts 3"]
    results["ratio_rows_per_s"] = three["rows_per_s"] / one["rows_per_s"]
    results["ratio_records_per_s"] = three["records_per_s"] / one["records_per_s"] if one["records_per_s"] else None
    workload.write_results(args.json, results)
    for warning in results.get("warnings", []):
        print(f"warning: {warning}")
    print(f"N = {rows}, n = {small}; the rule refuses {REJECTED_SHARE:.0%} of answers; fixed cost T(n) = {fixed:.1f} s "
          f"(median of {len(fixed_runs)}: {', '.join(f'{t:.1f}' for t in fixed_runs)})")
    for label in ("attempts 1", "attempts 3"):
        s = results["settings"][label]
        print(f"max_{label.replace(' ', '_')}: {s['rows_per_s']:.1f} rows/s, {s['records_per_s']:.1f} records/s, "
              f"{s['generations_per_row']:.2f} generations per row, {s['reject_share']:.1%} rejects "
              f"{s['reject_reasons']}, whole run {s['seconds']:.1f} s")
    if results["ratio_records_per_s"] is not None:
        print(f"records/s attempts 3 / attempts 1 = {results['ratio_records_per_s']:.2f}")
    print(f"ratio rows/s attempts 3 / attempts 1 = {results['ratio_rows_per_s']:.2f}")


def _spec(source: str, folder: Path, root: Path, attempts: int):
    return workload.job_spec(
        name="bench-repair", model=source, input_uri=folder, output_uri=root / f"out-{attempts}",
        task={"schema": "benchmarks.bench_schemas:EveryThirdRejected", "schema_modules": ["benchmarks.bench_schemas"]},
        max_attempts=attempts,
    )


def run_once(spec) -> dict:
    import pandas as pd

    from jobs.driver.run import run_job

    started = time.monotonic()
    summary = run_job(spec).model_dump()
    seconds = time.monotonic() - started
    out = Path(spec.output.uri)
    attempts = 0
    for kind in ("records", "rejects"):
        if (out / kind).exists():
            attempts += int(pd.read_parquet(out / kind, columns=["_attempts"])["_attempts"].sum())
    return {"seconds": seconds, "rows": summary["input_rows"], "records": summary["records"], "rejects": summary["rejects"],
            "reject_reasons": summary["reject_reasons"], "generations": attempts,
            "completion_tokens": summary["completion_tokens"], "prompt_tokens": summary["prompt_tokens"]}


if __name__ == "__main__":
    main()
