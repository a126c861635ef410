"""Real-world schema coverage (issue 18): every `*.json` under --schemas through the job's
schema step, beside xgrammar compiling the same schema alone.

The schema step is what `k2batch validate` does with `task.schema`: load the file (and
check it against its draft's meta-schema), map it to Arrow, compile the tool-call
constraint the way the engine will (schemas/constraint_compile.py). Beside it: xgrammar alone,
with the engine's settings, on the file as it is; and, for each accepted schema, vLLM's
own request check on the constraint (the unsupported-feature list and the nesting limit
it applies to every request), which a constraint that compiles could still fail.

Per collection (the first folder under --schemas): schemas, compiled by xgrammar alone,
accepted by k2batch (and its share of those xgrammar alone compiles: the target is at
least 99%), accepted ones vLLM takes, refusal causes, and whether every refusal is one
line naming a JSON pointer. `--e2e K` also runs a real job (`jobs.notebook.run`, the
tiny model, 4 rows) for the first K accepted schemas per collection whose job validates
(the tool's schema leaves room in a 4,096-token prompt) and checks every record it wrote
with jsonschema (format checker on), independently of k2batch's validator.

python -m benchmarks.schema_coverage --schemas ../shared/schemas/jsonschemabench-sample [--e2e K] [--json out.json]
"""

import argparse
import json
import os
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks import workload

TARGET_SHARE = 0.99  # of the schemas xgrammar alone compiles, per collection
TIME_LIMIT_S = 30.0  # the job's own compile limit (schemas/constraint_compile.py)
MAX_TOKENS = 512  # per answer: the random model's strings run until max_tokens unless a bound ends them
TEXTS = ["Order 1042 shipped on 2024-05-01 to Ana Lee (ana@example.com), 3 items, total 59.90 EUR.",
         "Meeting notes: the team agreed to release version 2.1 next Tuesday; Bob owns the changelog.",
         "Sensor 7 reported 21.5 C and 40% humidity at 10:20 UTC; status ok.", "A short note."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", default=str(workload.ROOT.parent / "shared/schemas/jsonschemabench-sample"),
                        help="a folder of *.json schemas, one subfolder per collection")
    parser.add_argument("--e2e", type=int, default=0, metavar="K", help="also run a real job for K accepted schemas per collection")
    parser.add_argument("--model", default=None, help="model folder or hub id for --e2e (default: the tiny random model)")
    parser.add_argument("--quick", action="store_true", help="the first 5 schemas of each collection")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--job", help=argparse.SUPPRESS)  # child mode: one real job with this schema
    args = parser.parse_args()
    if args.job:
        path = Path(args.job)
        workload.emit_child_result(run_job(path, job_for(path, workload.model_source(args.model))))
        return
    folder = Path(args.schemas)
    if not folder.is_dir():
        print(f"no schema folder at {folder}: nothing measured")
        workload.write_results(args.json, {"skipped": f"no schema folder at {folder}"})
        return
    import xgrammar  # noqa: F401 - imported once here: every compile's forked child has it

    paths = sorted(Path(root, name) for root, _, names in os.walk(folder, followlinks=True) for name in names
                   if name.endswith(".json"))
    if not paths:
        print(f"no *.json under {folder}: nothing measured")
        workload.write_results(args.json, {"skipped": f"no *.json under {folder}"})
        return
    by_collection = defaultdict(list)
    for path in paths:
        by_collection[path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else "."].append(path)
    if args.quick:
        by_collection = {name: found[:5] for name, found in by_collection.items()}
    results = {"schemas_dir": str(folder), "target_share": TARGET_SHARE, "collections": {}}
    if args.e2e:
        results.update(e2e_model=args.model or "the tiny random-weight model", e2e_max_tokens=MAX_TOKENS)
    for collection, found in sorted(by_collection.items()):
        outcomes = [schema_step(path) for path in found]
        results["collections"][collection] = summarize(outcomes)
        row = results["collections"][collection]
        print(f"{collection}: {row['schemas']} schemas, xgrammar alone {row['alone']} (vLLM takes {row['vllm_takes_alone']} "
              f"as they are), k2batch {row['accepted']} "
              f"({row['share_of_alone']:.1%} of xgrammar's), vLLM takes {row['vllm_takes']}, "
              f"refused {row['refused']} {dict(row['causes'])}", flush=True)
        if args.e2e:
            row["e2e"], row["e2e_skipped"] = real_jobs([Path(o["path"]) for o in outcomes if o["accepted"]], args.e2e,
                                                       args.model)
            for run in row["e2e"]:
                print(f"  e2e {run['schema']}: {run['records']} records, {run['invalid_records']} invalid, "
                      f"rejects {run.get('error') or run['reject_reasons']}", flush=True)
    totals = summarize([o for c in results["collections"].values() for o in c.pop("outcomes")])
    totals.pop("outcomes")
    results["all"] = totals
    results["worst_share"] = min(c["share_of_alone"] for c in results["collections"].values())
    print(f"all: {totals['schemas']} schemas, xgrammar alone {totals['alone']}, k2batch {totals['accepted']} "
          f"({totals['share_of_alone']:.1%} of xgrammar's; worst collection {results['worst_share']:.1%})")
    workload.write_results(args.json, results)


def schema_step(path: Path) -> dict:
    """One schema through xgrammar alone and through k2batch's schema step."""
    from jobs.spec import JobSpecError
    from schemas.constraint_compile import compile_constraint, compile_record_constraint
    from schemas.record_schema import SchemaLoadError, load_record_schema
    from schemas.schema_error import UnsupportedSchemaError
    from schemas.tool_call import tool_call_json_schema

    outcome = {"path": str(path), "accepted": False, "message": None, "vllm_takes": None}
    document = json.loads(path.read_text())
    try:
        compile_constraint(document, time_limit=TIME_LIMIT_S)
        outcome["alone"] = True
    except (JobSpecError, ValueError, RecursionError):
        outcome["alone"] = False
    outcome["vllm_takes_alone"] = outcome["alone"] and vllm_takes(document)
    started = time.monotonic()
    try:
        record_schema = load_record_schema(str(path))
        record_schema.arrow_schema  # noqa: B018 - as resolve_job does: refused here, not in a writer
        record_schema = compile_record_constraint(record_schema, tool_name="record", time_limit=TIME_LIMIT_S)
    except (SchemaLoadError, UnsupportedSchemaError) as err:
        outcome["message"] = f"task.schema: {err}"
    except JobSpecError as err:
        outcome["message"] = str(err)
    except Exception as err:  # what the issue forbids: a crash instead of a spec answer
        outcome["message"] = f"crash: {type(err).__name__}: {err}"
    else:
        constraint = tool_call_json_schema(name="record", parameters=record_schema.constraint_parameters)
        outcome.update(accepted=True, vllm_takes=vllm_takes(constraint), wrapped=record_schema.wrapped,
                       omitted=len(record_schema.grammar_omits),
                       json_columns=sum(1 for f in record_schema.arrow_schema if "json" in str(f.type)))
    outcome["seconds"] = time.monotonic() - started
    return outcome


def vllm_takes(constraint) -> bool:
    """vLLM's own check of a request's JSON Schema with the xgrammar backend."""
    from vllm.sampling_params import check_json_nesting
    from vllm.v1.structured_output.backend_xgrammar import has_xgrammar_unsupported_json_features

    if not isinstance(constraint, dict):
        return False
    try:
        check_json_nesting(constraint)
    except ValueError:
        return False
    return not has_xgrammar_unsupported_json_features(constraint)


def cause(message: str) -> str:
    """A refusal's kind: its text without the file, the pointer and quoted specifics."""
    text = re.sub(r"^task\.schema: (/\S*: )?", "", message)
    text = re.sub(r"\S+\.json", "FILE", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "…", text)
    return text.split(": ", 2)[0] if text.startswith("crash") else text[:90]


def summarize(outcomes: list[dict]) -> dict:
    alone = sum(o["alone"] for o in outcomes)
    accepted_of_alone = sum(o["accepted"] and o["alone"] for o in outcomes)
    refusals = [o["message"] for o in outcomes if not o["accepted"]]
    return {
        "schemas": len(outcomes), "alone": alone, "accepted": sum(o["accepted"] for o in outcomes),
        "share_of_alone": accepted_of_alone / alone if alone else 1.0,
        "vllm_takes": sum(bool(o["vllm_takes"]) for o in outcomes),
        "vllm_takes_alone": sum(bool(o["vllm_takes_alone"]) for o in outcomes),
        "wrapped": sum(bool(o.get("wrapped")) for o in outcomes),
        "with_json_columns": sum(bool(o.get("json_columns")) for o in outcomes),
        "with_omitted_keywords": sum(bool(o.get("omitted")) for o in outcomes),
        "refused": len(refusals), "causes": Counter(cause(m) for m in refusals).most_common(),
        "refusals_one_line_with_pointer": sum(bool(re.match(r"^task\.schema: /\S*: ", m)) and "\n" not in m for m in refusals),
        "crashes": sum(m.startswith("crash") for m in refusals),
        "refused_examples": [f"{Path(o['path']).name}: {o['message'][:200]}" for o in outcomes if not o["accepted"]][:5],
        "max_seconds": max((o["seconds"] for o in outcomes), default=0.0),
        "outcomes": outcomes,
    }


def real_jobs(accepted: list[Path], k: int, model: str | None) -> tuple[list[dict], dict]:
    """Real jobs for the first `k` accepted schemas whose job resolves (`k2batch validate`
    passes: above all, the tool's schema leaves room in the prompt), each in its own
    process (its engine, Ray and logs gone with it), and why the ones before were skipped."""
    from jobs.plan.resolve import resolve_job
    from jobs.spec import JobSpecError

    runs, skipped = [], Counter()
    for path in accepted:
        if len(runs) == k:
            break
        spec = job_for(path, workload.model_source(model))
        try:
            resolve_job(spec)
        except JobSpecError as err:
            skipped[cause(str(err))] += 1
            continue
        log = Path(spec.output.uri).parent / "job.log"
        try:
            runs.append(workload.run_child("schema_coverage", ["--job", str(path), *(["--model", model] if model else [])],
                                           log=log, timeout=1200))
        except RuntimeError as err:  # a failed run is a finding, reported beside the others
            runs.append({"schema": path.name, "error": str(err).splitlines()[0], "records": 0, "invalid_records": 0,
                         "reject_reasons": {}})
    return runs, dict(skipped)


def job_for(path: Path, model: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = workload.WORKDIR / "schema_coverage" / path.parent.name / path.stem
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"doc_id": [f"d{i}" for i in range(len(TEXTS))], "body": TEXTS}), data / "part-0.parquet")
    return workload.job_spec(name=f"coverage-{path.stem}", model=model, input_uri=data, output_uri=root / "out",
                             task={"schema": str(path), "tool_name": "record", "tool_description": "Record what the text says.",
                                   "prompt": "Record what this text says:\n\n{body}"}, max_tokens=MAX_TOKENS)


def run_job(path: Path, spec) -> dict:
    """A real job (4 rows) with this schema; every record checked by an independent
    jsonschema validator with format checking on."""
    import jsonschema

    from jobs.notebook import read_records, run

    started = time.monotonic()
    summary = run(spec, progress=False).summary.model_dump()
    document = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(document)
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)
    values = read_records(spec.output.uri)
    invalid = [row_id for row_id, value in values.items() if not validator.is_valid(value)]
    return {"schema": path.name, "records": len(values), "invalid_records": len(invalid), "rejects": summary["rejects"],
            "reject_reasons": summary["reject_reasons"], "seconds": time.monotonic() - started}


if __name__ == "__main__":
    main()
