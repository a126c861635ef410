"""The sections of BENCHMARKS.md other than the engine comparisons (benchmarks/report_engine.py):
each renders one benchmark's JSON results as Markdown lines."""

from collections import Counter


def stat(value: dict, digits: int = 1) -> str:
    """A median with its [min–max] over repetitions."""
    if value["n"] == 1:
        return f"{value['median']:.{digits}f}"
    return f"{value['median']:.{digits}f} [{value['min']:.{digits}f}–{value['max']:.{digits}f}]"


def status(value: float | None, target: float, kind: str) -> str:
    if value is None:
        return "**no ratio** (see its section)"
    ok = {"below": value < target, "above": value > target, "at most": value <= target}.get(kind, value >= target)
    return "met" if ok else "**missed**"


def prefix_cache(r: dict, runs: dict) -> list[str]:
    counter = r["engine_counter_hit_rate"]
    return [f"{r['rows']} first-attempt prompts of the demo extract job ({r['prompt_tokens_per_row']:.0f} tokens each on "
            "average), from an empty cache, with K2Engine's engine arguments.", "",
            f"- Hit rate, vLLM's `RequestOutput.num_cached_tokens` / prompt tokens: **{r['hit_rate']:.1%}** "
            f"(target above {r['target_hit_rate']:.0%}); engine counters prefix_cache_hits / prefix_cache_queries: "
            + (f"{counter:.1%}." if counter is not None else "not available.")
            + " The rest is each row's own text plus the first row's system prompt and the tail of the shared "
            "prefix that does not fill a whole KV block.",
            f"- Throughput, rows/s: on {stat(r['rows_per_s']['on'])}, off {stat(r['rows_per_s']['off'])}: "
            + (f"**no ratio**: {r['unequal_work']}" if r.get("unequal_work") else f"**on/off = {r['throughput_on_off']:.2f}**")
            + f"; output tokens/s on {stat(r['output_tokens_per_s']['on'], 0)}, "
            f"off {stat(r['output_tokens_per_s']['off'], 0)}. Both settings answer the same prompts (no article twice) "
            "and the ratio is shown only when their prompt and output tokens per row agree.",
            f"- A `k2batch run` of the same rows reports **{r['k2batch_hit_rate']:.1%}** in its summary.json "
            "(`cached_prompt_tokens` / `prompt_tokens`, re-asks included).", ""]


def cpu_stages(r: dict, runs: dict) -> list[str]:
    inference = None
    if (ceiling := runs.get("engine_ceiling")) and ceiling["results"]:
        inference = ceiling["results"]["contenders"]["vllm"]["rows_per_s"]["median"]
    out = [f"Batches of {r['batch_rows']} demo rows, one process, one thread; per core = rows / CPU seconds of the process.", "",
           "| Stage | rows/s per core | rows/s wall | CPU per row next to inference |", "|---|---|---|---|"]
    for name, stage in r["stages"].items():
        rate = stage["rows_per_core_s"]["median"]
        # inference rows/s uses all cores; per-core cost of a stage relative to one row of inference time on all cores
        share = f"{inference / rate:.1%} of an engine row's time" if inference else "n/a (engine ceiling not run)"
        out.append(f"| {name} | {stat(stage['rows_per_core_s'], 0)} | {stat(stage['rows_per_wall_s'], 0)} | {share} |")
    out += ["", f"Target: at least {r['target_rows_per_core']:,} rows/s per core for render and for parse+validate. "
            "\"Next to inference\" is the stage's CPU seconds per row divided by the engine's wall seconds per row in "
            "engine ceiling (a), which uses every core: the share of the engine's time the stage would take on one core."]
    if "profile" in r:
        out += ["", f"cProfile of the slowest gated stage ({r['worst_gated_stage']}), top functions by cumulative time:", "",
                "```", r["profile"], "```"]
    out.append("")
    return out


def streaming_memory(r: dict, runs: dict) -> list[str]:
    n, big = r["runs"]["N"], r["runs"]["10N"]
    out = [f"A label job (one-field schema, max_tokens {n['max_tokens']}), N = {r['rows']['N']} rows vs 10N = "
           f"{r['rows']['10N']} rows, {r['rows_per_file']} rows per file (10x the files). Peak RSS sampled every 0.1 s "
           "over every process of the run, summed per group.", "",
           "| Process group | peak MiB at N | peak MiB at 10N | ratio |", "|---|---|---|---|"]
    for group, ratio in r["ratios"].items():
        if group == "all workers together":
            a, b = n["peak_workers_total_mib"], big["peak_workers_total_mib"]
        else:
            a, b = n["peak_mib"][group], big["peak_mib"][group]
        out.append(f"| {group} | {a:.0f} | {b:.0f} | {ratio:.2f} |")
    out += ["", f"Runs: N in {n['seconds']:.0f} s, 10N in {big['seconds']:.0f} s (start-up included). "
            f"Target: below {r['target_ratio']} for the driver and for the workers.", ""]
    return out


def repair_loop(r: dict, runs: dict) -> list[str]:
    out = [f"The demo extract job with benchmarks/bench_schemas.py:EveryThirdRejected, a rule that refuses exactly "
           f"{r['rejected_share']:.0%} of the answers it sees. N = {r['rows']}, fixed cost T(n = {r['small_rows']}) = "
           f"{r['fixed_seconds']:.1f} s subtracted (median of {len(r['fixed_runs_seconds'])} runs: "
           f"{', '.join(f'{t:.1f}' for t in r['fixed_runs_seconds'])} s).", "",
           *[f"> **Warning:** {warning}" for warning in r.get("warnings", [])],
           "| max_attempts | rows/s | records/s | generations per row | rejects |", "|---|---|---|---|---|"]
    for label, s in r["settings"].items():
        out.append(f"| {label.split()[-1]} | {s['rows_per_s']:.1f} | {s['records_per_s']:.1f} | "
                   f"{s['generations_per_row']:.2f} | {s['reject_share']:.1%} |")
    out += ["", "The two settings do different work by design (a refused answer is asked again): the ratio is the "
            "cost of the re-asks, not a comparison of frameworks.", "", f"rows/s 3 vs 1: **{r['ratio_rows_per_s']:.2f}**"
            + (f"; records/s 3 vs 1: {r['ratio_records_per_s']:.2f}" if r["ratio_records_per_s"] else "")
            + f". Expected from the rule alone: {1 / (1 - r['rejected_share']):.2f} generations per row with 3 "
            f"attempts (re-ask prompts are longer, so the cost per generation grows too), "
            f"{r['rejected_share'] ** 3:.1%} rejects.", ""]
    return out


def planning(r: dict, runs: dict) -> list[str]:
    s3 = r["s3"]
    out = [f"`k2batch validate`'s planning of {s3['files']:,} files of {s3['rows_per_file']} rows on moto's S3 server "
           f"(a process of its own): the listing, every footer and every id, one file at a time and concurrently "
           f"({s3['threads']} footers and {s3['id_threads']} files' ids at a time), median of {s3['repeats']} alternated "
           f"runs; directly on localhost, and through a proxy that answers each request {s3['latency_ms']:.0f} ms late, "
           "as a remote object store does.", "",
           "| Store | one at a time, s per 1,000 files | concurrent, s per 1,000 files | speed-up | listing / footers / ids, concurrent (s) |",
           "|---|---|---|---|---|"]
    for store, s in s3["stores"].items():
        c = s["concurrent"]
        out.append(f"| {store} | {s['serial']['per_1000_files_s']:.1f} | {c['per_1000_files_s']:.1f} | {s['speedup']:.1f}x | "
                   f"{c['listing_s']:.1f} / {c['footers_s']:.1f} / {c['ids_s']:.1f} |")
    out += ["", f"The id check on {r['id_files']} files, each size in a fresh process (peak RSS of the whole process, "
            "imports included):", "", "| ids | peak RSS MiB | before planning MiB | seconds |", "|---|---|---|---|"]
    for label, m in r["memory"].items():
        out.append(f"| {m['ids']:,} ({label}) | {m['peak_mib']:.0f} | {m['peak_before_mib']:.0f} | {m['seconds']:.1f} |")
    out += ["", f"Peak RSS {r['ids']['10N']:,} / {r['ids']['N']:,} ids: {r['growth']:.2f} (target below "
            f"{r['target_growth']}); \"all in one array\" is the check before issue 16, for reference.", ""]
    return out


def schema_coverage(r: dict, runs: dict) -> list[str]:
    if "collections" not in r:
        return [f"**Not measured:** {r.get('skipped', 'no schema folder')} (it is `../shared/schemas/jsonschemabench-sample`, "
                "or `--schemas DIR`).", ""]
    out = [f"Every `*.json` under `{r['schemas_dir']}` through k2batch's schema step (load and meta-schema check, "
           "Arrow mapping, the tool-call constraint compiled as the engine compiles it, a pattern or format xgrammar "
           "cannot compile left to validation), beside xgrammar compiling the file alone with the engine's settings. "
           "*vLLM takes*: vLLM's own request check (its list of JSON Schema features it refuses with xgrammar, and its "
           "nesting limit) passes, on the file as it is and on k2batch's constraint. Target: k2batch accepts at least "
           f"{r['target_share']:.0%} of what xgrammar alone compiles, in every collection.", "",
           "| Collection | schemas | xgrammar alone compiles | vLLM takes as is | k2batch accepts | of xgrammar's | "
           "vLLM takes k2batch's | wrapped root | with JSON columns | pattern left to validation | refused (causes) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, c in [*r["collections"].items(), ("**all**", r["all"])]:
        causes = "; ".join(f"{cause} ({n})" for cause, n in c["causes"]) or "none"
        share = f"{c['share_of_alone']:.1%}" + ("" if c["share_of_alone"] >= r["target_share"] else " **missed**")
        out.append(f"| {name} | {c['schemas']} | {c['alone']} | {c['vllm_takes_alone']} | {c['accepted']} | {share} | "
                   f"{c['vllm_takes']} | {c['wrapped']} | {c['with_json_columns']} | {c['with_omitted_keywords']} | "
                   f"{c['refused']}: {causes} |")
    total = r["all"]
    out += ["", f"Refusals that are one line with a JSON pointer: {total['refusals_one_line_with_pointer']} of "
            f"{total['refused']}; crashes: {total['crashes']}; slowest schema step: {total['max_seconds']:.1f} s.", ""]
    runs_e2e = [(name, e) for name, c in r["collections"].items() for e in c.get("e2e", [])]
    if runs_e2e:
        records = sum(e["records"] for _, e in runs_e2e)
        invalid = sum(e["invalid_records"] for _, e in runs_e2e)
        skipped = Counter()
        for c in r["collections"].values():
            skipped.update(c.get("e2e_skipped", {}))
        out += [f"Real jobs (`--e2e`): per collection, the first accepted schema(s) whose job validates, 4 rows each, "
                f"max_tokens {r.get('e2e_max_tokens', 'n/a')}, the model `{r.get('e2e_model', 'n/a')}`; every written "
                "record read back (`read_records`) and checked by jsonschema with format checking on, independently of "
                f"k2batch's validator: **{records - invalid} of {records} records valid**. Skipped before them (the job "
                "refused by `validate`): " + ("; ".join(f"{k} ({n})" for k, n in skipped.items()) or "none") + ".", "",
                "| Collection | schema | records | invalid records | rejects by reason |", "|---|---|---|---|---|"]
        for name, e in runs_e2e:
            reasons = e.get("error") or ", ".join(f"{k} {v}" for k, v in e["reject_reasons"].items()) or "none"
            out.append(f"| {name} | {e['schema']} | {e['records']} | {e['invalid_records']} | {reasons} |")
        out += ["", "A `truncated` reject is an answer still going at max_tokens: the random-weight model rarely closes "
                "a string the schema leaves unbounded.", ""]
    return out


def estimate_accuracy(r: dict, runs: dict) -> list[str]:
    e = r["estimate"]
    out = [f"`k2batch estimate` on a random sample of {r['sample']} of {r['rows']} rows, then the whole job on the same "
           "input (the demo job: max_tokens 512, max_attempts 3), each in its own process. The run's engine time is "
           "summary.json's `engine_seconds` (start-up excluded), what the estimate projects.", "",
           "| Figure | Projected (95% range) | Measured | Error | Target |", "|---|---|---|---|---|"]
    for name, target in (("completion_tokens", r["target_tokens_error"]), ("engine_seconds", r["target_engine_error"])):
        f = r[name]
        p = f["projected"]
        out.append(f"| {name.replace('_', ' ')} | {p['value']:,.1f} ({p['low']:,.1f}–{p['high']:,.1f}) | {f['measured']:,.1f} "
                   f"| {f['error']:+.1%} | ±{target:.0%}: {status(abs(f['error']), target, 'below')} |")
    out += ["", f"The estimate's engine start: {e['measured']['engine_start_seconds']:.1f} s; projected rows/s per replica "
            f"{e['rows_per_second_per_replica']['value']:.2f}, wall time {e['wall_seconds']['value']:.0f} s; the run's whole "
            f"wall time {r['run']['wall_seconds']:.0f} s. A run keeps up to {e['rows_in_flight']} rows in flight per replica; "
            f"a sample of {e['sample_rows']} runs the engine below that load, which overstates engine time.", ""]
    return out


def dedup(r: dict, runs: dict) -> list[str]:
    out = [f"{r['rows']} rows of which {r['duplicate_rows']} repeat another row's text under their own id, temperature 0, "
           "`task.dedup` off then on, each run in its own process. Rows/s = input rows / summary.json's `engine_seconds`.", "",
           "| task.dedup | rows/s | engine s | deduplicated rows | completion tokens |", "|---|---|---|---|---|"]
    for setting in ("off", "on"):
        s = r["runs"][setting]
        out.append(f"| {setting} | {s['rows_per_s']:.2f} | {s['engine_seconds']:.1f} | {s['deduplicated_rows']} "
                   f"| {s['completion_tokens']:,} |")
    out += ["", f"On / off: **{r['speedup']:.2f}x** (target {r['target_speedup']}x: "
            f"{status(r['speedup'], r['target_speedup'], 'at least')}). Identical outcomes (record fields or reject reason) "
            f"in both runs: {r['identical_rows']} of {r['rows']} rows. This is where dedup's gain is shown: the two runs "
            "do different work by design (each distinct prompt answered once), so every other side-by-side benchmark "
            "runs on input without repeated articles.", ""]
    return out


def schema_room(r: dict, runs: dict) -> list[str]:
    if "contexts" not in r:
        return [f"**Not measured:** {r.get('skipped', 'no schema folder')}.", ""]
    out = [f"Every `*.json` under `{r['schemas_dir']}` that k2batch's schema step loads ({r['loaded']} of {r['schemas']}), "
           f"as the demo job's `task.schema` with model.max_tokens {r['max_tokens']}, counted with {r['tokenizer']} "
           "tokenizer as `k2batch validate` counts. Before: the tool listed in full; after: the compact listing "
           "(minified, shared definitions once, descriptions kept where room allows, outermost first, then the structure "
           "cut below the deepest level that fits), refused only when the top-level fields alone do not fit.", "",
           "| max_model_len | refused before | refused after | listed compactly | of them with every description | "
           "of them outlined | median tokens, full → compact listing |", "|---|---|---|---|---|---|---|"]
    for context, c in r["contexts"].items():
        sizes = (f"{c['median_full_tokens_of_compacted']:,.0f} → {c['median_listed_tokens_of_compacted']:,.0f}"
                 if c["compacted"] else "n/a")
        out.append(f"| {int(context):,} | {c['refused_before']} | {c['refused_after']} | {c['compacted']} | "
                   f"{c['all_descriptions_kept']} | {c.get('outlined', 'n/a')} | {sizes} |")
    share = r["refused_share_4096"]
    out += ["", f"Refused at 4,096 after / before: **{share:.2f}** (target at most {r['target_refused_share']}: "
            f"{status(share, r['target_refused_share'], 'at most')}). Still refused at 4,096, by collection: "
            + (", ".join(f"{k} {v}" for k, v in sorted(r["contexts"]["4096"]["refused_after_by_collection"].items()))
               or "none") + f". This tokenizer spends a token on every {r['chars_per_token']:.1f} characters of the system "
            "prompts; K2's 32,000-token Llama vocabulary packs more characters into a token, so these counts overstate "
            "what K2 would refuse (K2's tokenizer is not on this machine to count with).", ""]
    return out


def table_output(r: dict, runs: dict) -> list[str]:
    out = [f"The same job ({r['rows']} rows, units of {r['unit_rows']}) writing Parquet folders, an Iceberg table (SQL "
           "catalog on SQLite, local warehouse) and a Delta table (local), each run in its own process, the three in "
           f"turn, {r['reps']} time(s). Rows/s = input rows / (last unit committed - first unit's first row in an engine), "
           "from timeline.json; commit = the driver's time per unit to publish its files, commit the tables and write "
           "its manifest entry (in each output's median run).", "",
           "| output | rows/s | vs folders (medians) | commit per unit, median | max | all commits |",
           "|---|---|---|---|---|---|"]
    for kind in ("parquet", "iceberg", "delta"):  # the JSON's keys come back sorted
        s = r["runs"][kind]
        ratio = "1.00" if kind == "parquet" else f"{r['ratios'][kind]:.2f}"
        c = s["commit_seconds"]
        rows_per_s = stat(r["rows_per_s"][kind], 2)
        out.append(f"| {kind} | {rows_per_s} | {ratio} | {c['median'] * 1000:.0f} ms | {c['max'] * 1000:.0f} ms "
                   f"| {c['total']:.2f} s |")
    out += ["", f"Target: each table output at least {r['target_ratio']:.1f}x the folders' rows/s: " + ", ".join(
        f"{kind} {status(ratio, r['target_ratio'], 'at least')}" for kind, ratio in r["ratios"].items()) + ".", ""]
    return out
