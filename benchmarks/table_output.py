"""Table output: `k2batch run` of the same job writing Parquet folders, an Iceberg table
(SQL catalog on SQLite, local warehouse) and a Delta table (local), each in its own
process, side by side: rows/s and the driver's commit time per unit (publishing the
unit's files, the table commits, the manifest entry: timeline.json's `commit_seconds`).

Rows/s is the input's rows over the span from the first unit's first row in an engine
to the last unit's commit (timeline.json), so that the engine's start-up is left out and
the commits, which run on the driver while the engine answers, are in.
Target (issue 24): each table output at least 0.9x the folder output's rows/s.

python -m benchmarks.table_output [--quick] [--model PATH] [--json out.json]
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
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--output", choices=OUTPUTS, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "table_output"
    rows, unit_rows = args.rows or (48 if args.quick else 256), args.unit_rows or (8 if args.quick else 16)
    if args.output:
        workload.emit_child_result(_run(_spec(source, root, args.output, unit_rows)))
        return
    workload.write_news_rows(root / "news", rows=rows, files=1)
    options = ["--rows", str(rows), "--unit-rows", str(unit_rows), *(["--model", args.model] if args.model else [])]
    env = workload.engine_env(_spec(source, root, "parquet", unit_rows))
    runs = {}
    for output in OUTPUTS:
        print(f"{output}: {rows} rows in units of {unit_rows} ...", flush=True)
        runs[output] = workload.run_child("table_output", ["--output", output, *options], env=env, log=root / f"{output}.log")
    ratios = {output: runs[output]["rows_per_s"] / runs["parquet"]["rows_per_s"] for output in ("iceberg", "delta")}
    results = {"rows": rows, "unit_rows": unit_rows, "runs": runs, "ratios": ratios, "target_ratio": TARGET_RATIO}
    workload.write_results(args.json, results)
    for output in OUTPUTS:
        r = runs[output]
        print(f"{output}: {r['rows_per_s']:.2f} rows/s, commit per unit median {r['commit_seconds']['median'] * 1000:.0f} ms "
              f"(max {r['commit_seconds']['max'] * 1000:.0f} ms) over {r['units']} units")
    print("rows/s table / folder: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()) + f" (target {TARGET_RATIO})")


def _spec(source, root, output: str, unit_rows: int):
    spec = workload.job_spec(name=f"bench-table-{output}", model=source, input_uri=root / "news",
                             output_uri=root / f"out-{output}", temperature=0.0)
    table = {"iceberg": {"format": "iceberg", "records": "bench.news", "rejects": "bench.news_rejects"},
             "delta": {"format": "delta", "records": str(root / "delta/news"), "rejects": str(root / "delta/news_rejects")}}
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
