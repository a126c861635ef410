"""CPU stages: rows/s per core of k2batch's own per-row work, without an engine.

- render: operators.prepare_prompts.PreparePrompts on a batch (render + tokenize);
- parse+validate: operators.parse_tool_call + RecordSchema.validate on the answers the
  constrained decoder writes (compact call JSON after the `<tool_call>` prime);
- arrow: operators.write_parquet's records table (WriteUnitFiles._records_table), and
  the whole writer step (table + Parquet file on local disk);
- engine actor loop (label): K2Engine.answer on a label batch with the engine replaced by
  an instant answer: the actor's own CPU per row beside the engine's.
Rows are the demo's synthetic news (examples/news_sample.py) with their true records.
Per core = rows / CPU seconds of this one-threaded process (so other load on the machine
inflates wall time, not the figure); wall rows/s is reported too.

python -m benchmarks.cpu_stages [--quick] [--model PATH] [--profile] [--json out.json]
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time

from benchmarks import workload

TARGET_ROWS_PER_CORE = 20_000  # issue 7: render, and parse+validate
BATCH_ROWS = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timing loops: a smoke test")
    parser.add_argument("--model", default=None, help="tokenizer source (default: the tiny model)")
    parser.add_argument("--seconds", type=float, default=None, help="CPU seconds per repetition (default 2; quick 0.2)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per stage (default 3; quick 1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the slowest stage: top functions")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core, or "per core" means nothing
    seconds = args.seconds or (0.2 if args.quick else 2.0)
    reps = args.reps or (1 if args.quick else 3)
    stages = build_stages(workload.model_source(args.model))
    results = {"batch_rows": BATCH_ROWS, "target_rows_per_core": TARGET_ROWS_PER_CORE, "stages": {}}
    for name, (run_batch, rows) in stages.items():
        run_batch()  # warm-up: tokenizer load, validator build, imports
        measured = [time_stage(run_batch, rows, seconds) for _ in range(reps)]
        results["stages"][name] = {
            "rows_per_core_s": workload.summarize([m[0] for m in measured]),
            "rows_per_wall_s": workload.summarize([m[1] for m in measured]),
        }
        print(f"{name}: {workload.fmt(results['stages'][name]['rows_per_core_s'], ' rows/s per core', 0)}; "
              f"wall {workload.fmt(results['stages'][name]['rows_per_wall_s'], ' rows/s', 0)}", flush=True)
    gated = {name: results["stages"][name]["rows_per_core_s"]["median"] for name in ("render", "parse+validate")}
    worst = min(gated, key=gated.get)
    results["worst_gated_stage"] = worst
    results["ratio_worst_to_target"] = gated[worst] / TARGET_ROWS_PER_CORE
    if args.profile:
        results["profile"] = profile(stages[worst][0], seconds)
        print(f"profile of {worst}, top functions by cumulative time:\n{results['profile']}")
    workload.write_results(args.json, results)
    print(f"ratio {worst} rows/s per core / {TARGET_ROWS_PER_CORE} target = {results['ratio_worst_to_target']:.2f}")


def build_stages(source: str) -> dict:
    """Each stage as (a call that processes one batch of BATCH_ROWS rows, BATCH_ROWS)."""
    import pandas as pd
    import pyarrow as pa
    from fsspec.implementations.local import LocalFileSystem

    from examples.news_sample import articles, expected_record
    from jobs.plan.resolve import resolve_job
    from operators import k2_format as k2
    from operators.parse_tool_call import parse_tool_call
    from jobs.plan.settings_from_spec import prompt_settings
    from operators.prepare_prompts import PreparePrompts
    from operators import write_parquet
    from operators.tokenizer import load_tokenizer
    from operators.write_parquet import WriteUnitFiles

    folder = workload.write_news_rows(workload.WORKDIR / "cpu_stages" / "rows", rows=BATCH_ROWS, files=1)
    checked = resolve_job(workload.job_spec(name="bench-cpu", model=source, input_uri=folder,
                                          output_uri=workload.WORKDIR / "cpu_stages" / "out"))
    spec, schema = checked.spec, checked.record_schema
    items = articles(BATCH_ROWS, seed=0, split="heldout")
    ids = [f"doc-{i:05d}" for i in range(BATCH_ROWS)]
    rows = pd.DataFrame({"doc_id": ids, "body": [a["body"] for a in items], "_unit": "part-0.parquet"})
    prepare = PreparePrompts.from_settings(prompt_settings(checked))
    # what the engine hands the parser: the prime, then the compact JSON the constraint writes
    answers = [k2.TOOL_CALL_OPEN + json.dumps({"name": spec.task.tool_name, "arguments": expected_record(a)},
                                              separators=(",", ":")) for a in items]

    def parse_and_validate():
        for answer in answers:
            arguments = parse_tool_call(answer, tool_name=spec.task.tool_name)
            record, errors = schema.validate(arguments)
            if errors:
                raise AssertionError(f"a true record failed validation: {errors}")

    records = [json.dumps(schema.validate(expected_record(a))[0]) for a in items]
    answered = rows.assign(_record_json=records, _reason=None, error=None, raw_output=None, _attempts=1,
                           _prompt_tokens=1200, _completion_tokens=60, _cached_prompt_tokens=1100, _truncated=False)
    for column in write_parquet.READS:  # columns the writer reads that this file does not know yet
        if column not in answered.columns:
            answered[column] = None
    staging = tempfile.mkdtemp(prefix="k2batch-bench-write-")
    writer = WriteUnitFiles(filesystem=LocalFileSystem(), staging_dir=staging, id_field=pa.field("doc_id", pa.string()),
                            record_schema=schema, metadata={"k2batch.bench": "1"})

    def write_files():
        for path in writer(answered).column("path").to_pylist():
            os.remove(path)

    actor_loop = label_actor_loop(rows)
    return {
        "render": (lambda: prepare(rows), BATCH_ROWS),
        "engine actor loop (label)": (actor_loop, BATCH_ROWS),
        "parse+validate": (parse_and_validate, BATCH_ROWS),
        "arrow": (lambda: writer._records_table(answered), BATCH_ROWS),
        "arrow+parquet write": (write_files, BATCH_ROWS),
    }


def label_actor_loop(rows):
    """The engine actor's own work on a label batch (operators/k2_engine.py K2Engine.answer:
    frames, dedup key, the re-ask loop, parse, validate, output columns) with the engine
    replaced by an instant answer, so that only k2batch's per-row CPU is timed."""
    import asyncio

    import numpy as np

    from operators.dedup import AnswerCache
    from operators.engine_progress import EngineReporter
    from operators.engine_settings import SamplingSettings, TaskSettings
    from operators.k2_engine import K2Engine
    from operators.reask import Generation
    from schemas.labels import label_record_schema

    async def instant(ids, params):
        return Generation(text='{"name":"record_label","arguments":{"label":"science"}}', token_ids=tuple(range(34)),
                          finish_reason="stop", cached_tokens=0, end="finish_reason=stop (eos) after 34 tokens")

    engine = object.__new__(K2Engine)  # no vLLM: __init__ would start one
    engine.progress, engine.answer_params, engine._generate, engine.confident = EngineReporter(), None, instant, None
    engine.task = TaskSettings(record_schema=label_record_schema(["politics", "business", "science", "sports", "culture"]),
                               tool_name="record_label", system_prompt="", prime="<tool_call>", summarize=False,
                               sampling=SamplingSettings(max_tokens=64, temperature=0.0, seed=0, max_attempts=3), dedup=True)
    batch = rows.assign(_user_text=rows["body"], _truncated=False, _reject_reason=None, _reject_message=None,
                        _prompt_ids=[np.arange(i, i + 900, dtype=np.int32) for i in range(len(rows))])

    def run():
        engine.answers = AnswerCache()  # every batch answered anew, not from the last one's cache
        asyncio.run(engine.answer(batch))

    return run


def time_stage(run_batch, rows: int, seconds: float) -> tuple[float, float]:
    """(rows per CPU second, rows per wall second) over whole batches for about `seconds` of CPU."""
    done = 0
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    while time.process_time() - cpu_start < seconds:
        run_batch()
        done += rows
    return done / (time.process_time() - cpu_start), done / (time.perf_counter() - wall_start)


def profile(run_batch, seconds: float, top: int = 15) -> str:
    profiler = cProfile.Profile()
    cpu_start = time.process_time()
    profiler.enable()
    while time.process_time() - cpu_start < seconds:
        run_batch()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


if __name__ == "__main__":
    main()
