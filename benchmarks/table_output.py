"""Table output: `k2batch run` of the same job writing Parquet folders, an Iceberg table
(SQL catalog on SQLite, local warehouse) and a Delta table (local), each in its own
process, side by side: rows/s and the driver's commit time per unit (publishing the
unit's files, the table commits, the manifest entry: timeline.json's `commit_seconds`).

Rows/s is the input's rows over the span from the first unit's first row in an engine
to the last unit's commit (timeline.json), so that the engine's start-up is left out and
the commits, which run on the driver while the engine answers, are in. The three outputs
run in turn, `--reps` times, each repetition into its own folders and tables; a ratio is one
of medians (one run each varied by a quarter between two runs on a quiet machine).
Target (issue 24): each table output at least 0.9x the folder output's rows/s.

python -m benchmarks.table_output [--quick] [--reps N] [--model PATH] [--json out.json]
"""

import argparse
import json
import statistics

from benchmarks import workload

TARGET_RATIO = 0.9
OUTPUTS = ("parquet", "iceberg", "delta")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="input rows (default 256; quick 48)")
    parser.add_argument("--unit-rows", type=int, default=None, help="output.unit_rows (default 16; quick 8)")
    parser.add_argument("--reps", type=int, default=None, help="runs of each output (default 3; quick 1)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--output", choices=OUTPUTS, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "table_output"
    rows, unit_rows = args.rows or (48 if args.quick else 256), args.unit_rows or (8 if args.quick else 16)
    reps = args.reps or (1 if args.quick else 3)
    if args.output:
        workload.emit_child_result(_run(_spec(source, root, args.output, unit_rows, args.rep)))
        return
    workload.write_news_rows(root / "news", rows=rows, files=1)
    options = ["--rows", str(rows), "--unit-rows", str(unit_rows), *(["--model", args.model] if args.model else [])]
    env = workload.engine_env(_spec(source, root, "parquet", unit_rows, 0))
    tries: dict[str, list[dict]] = {output: [] for output in OUTPUTS}
    for rep in range(reps):
        for output in OUTPUTS:
            print(f"{output}: {rows} rows in units of {unit_rows} (run {rep + 1} of {reps}) ...", flush=True)
            tries[output].append(workload.run_child("table_output", ["--output", output, "--rep", str(rep), *options],
                                                    env=env, log=root / f"{output}-{rep}.log"))
    stats = {output: workload.summarize([t["rows_per_s"] for t in tries[output]]) for output in OUTPUTS}
    # Each output's table row is its median run (its rows/s is the median itself when reps is odd).
    runs = {output: min(tries[output], key=lambda t: abs(t["rows_per_s"] - stats[output]["median"])) for output in OUTPUTS}
    ratios = {output: stats[output]["median"] / stats["parquet"]["median"] for output in ("iceberg", "delta")}
    results = {"rows": rows, "unit_rows": unit_rows, "reps": reps, "runs": runs, "rows_per_s": stats, "ratios": ratios,
               "target_ratio": TARGET_RATIO}
    workload.write_results(args.json, results)
    for output in OUTPUTS:
        r = runs[output]
        print(f"{output}: {workload.fmt(stats[output], ' rows/s', 2)}; its median run's commit per unit median "
              f"{r['commit_seconds']['median'] * 1000:.0f} ms (max {r['commit_seconds']['max'] * 1000:.0f} ms) "
              f"over {r['units']} units")
    print("rows/s table / folder: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()) + f" (target {TARGET_RATIO})")


def _spec(source, root, output: str, unit_rows: int, rep: int):
    """The job of one run: its own output folder and tables, so that no run commits on top of
    another run's snapshots (an Iceberg commit rewrites metadata that lists them all)."""
    spec = workload.job_spec(name=f"bench-table-{output}", model=source, input_uri=root / "news",
                             output_uri=root / f"out-{output}-{rep}", temperature=0.0)
    table = {"iceberg": {"format": "iceberg", "records": f"bench.news_{rep}", "rejects": f"bench.news_rejects_{rep}"},
             "delta": {"format": "delta", "records": str(root / f"delta-{rep}/news"),
                       "rejects": str(root / f"delta-{rep}/news_rejects")}}
    return spec.model_validate({**spec.model_dump(by_alias=True), "output": {
        **spec.output.model_dump(), "unit_rows": unit_rows, "table": table.get(output)}})


def _run(spec) -> dict:
    from jobs.driver.run import run_job

    summary = run_job(spec, report=False)
    timeline = json.loads((workload.Path(spec.output.uri) / summary.logs / "timeline.json").read_text())
    units = timeline["units"]
    span = max(u["committed_s"] for u in units) - min(u["first_taken_s"] for u in units if u["first_taken_s"] is not None)
    commits = [u["commit_seconds"] for u in units]
    return {"input_rows": summary.input_rows, "records": summary.records, "rejects": summary.rejects,
            "units": len(units), "span_seconds": span, "rows_per_s": summary.input_rows / span,
            "wall_seconds": summary.wall_seconds,
            "commit_seconds": {"median": statistics.median(commits), "max": max(commits), "total": sum(commits)}}


if __name__ == "__main__":
    main()
