"""Duplicate prompts: `k2batch run` on an input where 30% of the rows repeat another
row's text under their own id, with task.dedup on and off (temperature 0), each in its
own process; engine rows/s side by side (target: on/off at least 1.3x) and whether both
runs give every row the same outcome.

Rows/s is the input's rows over summary.json's `engine_seconds` (start-up excluded).

python -m benchmarks.dedup [--quick] [--model PATH] [--json out.json]
"""

import argparse
import random

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import workload

TARGET_SPEEDUP = 1.3
DUPLICATE_SHARE = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="input rows (default 400; quick 40)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--dedup", choices=["on", "off"], help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "dedup"
    if args.dedup:
        workload.emit_child_result(_run(_spec(source, root, args.dedup)))
        return
    rows = args.rows or (40 if args.quick else 400)
    duplicates = write_input(root / "news", rows)
    model_args = ["--model", args.model] if args.model else []
    env = workload.engine_env(_spec(source, root, "off"))
    runs = {}
    for setting in ("off", "on"):
        print(f"dedup {setting}: {rows} rows, {duplicates} of them duplicates ...", flush=True)
        runs[setting] = workload.run_child("dedup", ["--dedup", setting, *model_args], env=env, log=root / f"{setting}.log")
    outcomes = {setting: _outcomes(root / f"out-{setting}") for setting in runs}
    same = sum(outcomes["on"].get(i) == outcome for i, outcome in outcomes["off"].items())
    results = {"rows": rows, "duplicate_rows": duplicates, "target_speedup": TARGET_SPEEDUP, "runs": runs,
               "speedup": runs["on"]["rows_per_s"] / runs["off"]["rows_per_s"], "identical_rows": same,
               "identical": same == rows == len(outcomes["on"])}
    workload.write_results(args.json, results)
    for setting in ("off", "on"):
        r = runs[setting]
        print(f"dedup {setting}: {r['rows_per_s']:.2f} rows/s ({r['engine_seconds']:.1f} engine s), "
              f"{r['deduplicated_rows']} rows deduplicated, {r['completion_tokens']:,} completion tokens")
    print(f"identical outcomes: {same} of {rows} rows")
    print(f"rows/s dedup on / off = {results['speedup']:.2f} (target {TARGET_SPEEDUP})")


def write_input(folder, rows: int) -> int:
    """`rows` rows, of which 30% repeat an earlier row's text under their own ids, shuffled; the duplicates' count."""
    unique = rows - round(rows * DUPLICATE_SHARE)
    workload.write_news_rows(folder, rows=unique, files=1, unique=True)  # the copies below are the only repeats
    (path,) = folder.glob("*.parquet")
    table = pq.read_table(path)
    rng = random.Random(0)
    picks = [rng.randrange(unique) for _ in range(rows - unique)]
    copies = table.take(picks)
    copies = copies.set_column(0, "doc_id", pa.array([f"dup-{n}" for n in range(len(picks))]))
    both = pa.concat_tables([table, copies])
    order = list(range(rows))
    rng.shuffle(order)
    pq.write_table(both.take(order), path, row_group_size=64)
    return len(picks)


def _spec(source, root, setting: str):
    return workload.job_spec(name=f"bench-dedup-{setting}", model=source, input_uri=root / "news",
                             output_uri=root / f"out-{setting}", task={"dedup": setting == "on"}, temperature=0.0)


def _run(spec) -> dict:
    from jobs.driver.run import run_job

    summary = run_job(spec).model_dump()
    return {**{key: summary[key] for key in ("input_rows", "records", "rejects", "completion_tokens", "engine_seconds",
                                              "deduplicated_rows", "wall_seconds")},
            "rows_per_s": summary["input_rows"] / summary["engine_seconds"]}


def _outcomes(out) -> dict:
    """Each row's outcome: its record's fields, or its reject reason."""
    from jobs.storage.committed import read_committed

    found = {}
    records = read_committed(str(out), "records")
    if records is not None:
        fields = [c for c in records.column_names if not c.startswith("_") and c != "doc_id"]
        for row in records.to_pylist():
            found[row["doc_id"]] = ("record", tuple((f, repr(row[f])) for f in fields))
    rejects = read_committed(str(out), "rejects")
    if rejects is not None:
        for row in rejects.to_pylist():
            found[row["doc_id"]] = ("reject", row["reason"])
    return found


if __name__ == "__main__":
    main()
