"""The engine comparisons of BENCHMARKS.md (engine_ceiling, label_ceiling): rows/s side by
side, the ratios only over equal work, and where each contender's CPU went."""

from benchmarks.report_sections import stat

JOBS = {"extract": "the demo extract job (schemas.examples.news:NewsHeadlines, max_tokens 512)",
        "label": "label mode on the same articles (one of five topics, max_tokens 64)"}


LAYERS_TEXT = ("(a2) is vLLM's async engine client, which k2batch's engine actor drives, answering every prompt at "
               "once; (b2) is k2batch's engine actor code (operators/k2_engine.py K2Engine: parsing, validation, "
               "re-asks, the answer columns) fed the prepared rows in batches of the job's batch_size, "
               "max_batches_in_flight of them at once (as Ray Data feeds it one input block), in one process without "
               "Ray. Both run on a started engine, timed like (a); neither reads, prepares or writes. What (b) adds to "
               "(b2) is the rest of a job around the engine on the same cores: Ray and Ray Data's processes, the read, "
               "prepare and write stages, the driver.")


def engine_ceiling(r: dict, runs: dict) -> list[str]:
    from benchmarks.engine_ceiling import LABELS
    from jobs.spec import ModelSpec
    from pipelines.engine_actor import ENGINE_TASKS_PER_ACTOR

    batch_size, in_flight = (ModelSpec.model_fields[f].default for f in ("batch_size", "max_batches_in_flight"))
    c = r["contenders"]
    out = [f"N = {r['rows']} rows, n = {r['small_rows']} rows (4 Parquet files each, no article twice), "
           f"{JOBS[r['workload']]}, the same token-id prompts (k2batch's PreparePrompts), the same "
           "constraint, sampling (K2's tags masked) and engine arguments. Every contender ran with "
           f"`VLLM_CPU_OMP_THREADS_BIND={r['binding']}` (every core: operators.engine_settings.cpu_threads_bind), "
           f"`VLLM_CPU_KVCACHE_SPACE={r['kv_cache_gib']}` and `OMP_WAIT_POLICY={r['wait_policy']}` "
           "(operators.engine_settings: PASSIVE unless the environment sets one).", "",
           "Start-up is excluded by subtraction, the same way for each: rows/s = (N − n) / (T(N) − T(n)). For (a), "
           "T is one `generate()` call on a started, warmed engine with the prefix cache reset first (and so for (a2) "
           "and (b2) where they ran, below); for (b) and (c), T "
           "is a whole run (Ray start, engine start, read, write), so every fixed cost cancels out. Each full run is set "
           "against the median small run; medians with [min–max] of the repetitions."
           + (" The contenders took turns: each repetition ran each of them once, in a fresh process (a small run, then "
              "a full run), so that a drift in the machine's speed fell on all of them alike." if r.get("in_turns") else ""),
           "",
           "| Contender | rows/s | output tokens/s | output / prompt tokens per row | T(n), fixed cost (s) | T(N) (s) |",
           "|---|---|---|---|---|---|"]
    c = {n: c[n] for n in LABELS if n in c}  # (a), (b), (c), whatever order the JSON kept
    for name, e in c.items():
        out.append(f"| {LABELS[name]} | {stat(e['rows_per_s'])} | {stat(e['output_tokens_per_s'], 0)} | "
                   f"{e['output_tokens_per_row']:.1f} / {e['prompt_tokens_per_row']:.1f} | {stat(e['small_run_seconds'])} | "
                   f"{stat(e['full_run_seconds'])} |")
    out += [f"> **Warning:** {warning}" for warning in r.get("warnings", [])]
    if r["unequal_work"]:
        out += ["", f"**No ratio**: {r['unequal_work']}."]
    elif not r["ratios"]:
        out += ["", "**No ratio**: a full run took no longer than the fixed cost (see the warning)."]
    else:
        out += ["", "Equal work: every contender's prompt and output tokens per row within "
                f"{r['equal_work_tolerance']:.0%} of (a)'s. Ratios of medians: "
                + ", ".join(f"**{k} = {v:.2f}** (target at least {r['targets'][k]})" for k, v in sorted(r["ratios"].items(),
                                                                                                       reverse=True)
                            if k in r["targets"]) + "."]
        layers = {k: v for k, v in r["ratios"].items() if k not in r["targets"]}
        if layers:
            out += ["", "Where the gap between (a) and (b) lies, against (a): "
                    + ", ".join(f"{k} = {v:.2f}" for k, v in layers.items()) + ". " + LAYERS_TEXT]
    if r.get("fixed_cost"):
        out += ["", fixed_cost_text(r)]
    b_runs = [x for x in c["k2batch"]["runs"] if x["size"] == "big"]
    out += ["", f"Engine start-up of (a), measured alone: {c['vllm']['engine_startup_seconds']:.1f} s; prefix-cache hit "
            f"rate in (a): {c['vllm']['prefix_cache_hit_rate']:.1%}. (b)'s fixed cost T(n) against (a)'s start-up plus "
            f"T(n): {c['k2batch']['small_run_seconds']['median'] - c['vllm']['engine_startup_seconds'] - c['vllm']['small_run_seconds']['median']:+.1f} s.", "",
            "What differs between contenders besides the framework: (b) also parses and validates every answer, re-asks "
            f"the invalid ones ({sum(x['rejects'] for x in b_runs)} rejects over its full runs) and writes typed Parquet "
            f"with a commit per file. {'(a) and (c) take' if 'raydata' in c else '(a) takes'} the answer's text from "
            "vLLM's detokenizer, which decodes every request at every step; (b) has vLLM skip it and decodes each "
            "finished answer once (the same text)"
            + ("; (c) writes the raw generated text. (c) runs with its chat-template, tokenize and detokenize stages off, "
               "because it receives k2batch's token ids and vLLM already returns the text." if "raydata" in c else "."), "",
            f"(b) runs with the job spec's defaults, batch_size {batch_size} and max_batches_in_flight {in_flight}: up to "
            f"{batch_size * in_flight} rows of an input block in the engine at once (and an engine actor works on "
            f"{ENGINE_TASKS_PER_ACTOR} blocks at once), more than the 256 sequences the CPU engine schedules "
            "per step, so a finished row's slot is refilled at the next step rather than when its whole batch ends.", ""]
    return out + _cpu_by_part(r)


ENGINE_PARTS = ("vllm engine core", "vllm model worker")


def _cpu_by_part(r: dict) -> list[str]:
    """Where each contender's CPU went, per 1,000 rows: the profile behind the ratios."""
    from benchmarks.engine_ceiling import LABELS
    from benchmarks.processes import GROUPS

    names = [n for n in LABELS if n in r["contenders"]]
    cpu = {n: r["contenders"][n]["cpu_seconds_per_1000_rows"] for n in names}
    wall = {n: 1000 / r["contenders"][n]["cpu_run_rows_per_s"] for n in names}
    total = {n: sum(cpu[n].values()) for n in names}
    out = ["Where the CPU went, in CPU seconds per 1,000 rows, by the same subtraction as rows/s (full run minus small "
           "run), for the full run of median rows/s: psutil samples every process of the run every 0.5 s, and for a "
           "run on a started engine ((a), and (a2) and (b2) where they ran) reads them just before and after it. "
           "*cores × wall* is the CPU the machine had while those rows were processed; *unused* is the part no process took (the engine waiting for work).", "",
           "| Part of the run | " + " | ".join(f"{LABELS[n].split()[0]} {n}" for n in names) + " |",
           "|---|" + "---|" * len(names)]
    for group in GROUPS:
        if any(cpu[n][group] >= 0.05 for n in names):
            out.append(f"| {group} | " + " | ".join(f"{cpu[n][group]:.1f}" for n in names) + " |")
    out += ["| **all processes** | " + " | ".join(f"**{total[n]:.1f}**" for n in names) + " |",
            f"| cores × wall ({r['cores']} × s per 1,000 rows) | "
            + " | ".join(f"{r['cores'] * wall[n]:.1f}" for n in names) + " |",
            "| unused | " + " | ".join(f"{r['cores'] * wall[n] - total[n]:.1f}" for n in names) + " |", ""]
    if any(r["cores"] * wall[n] < total[n] or min(cpu[n].values()) < 0 for n in names):
        out += ["A negative figure is the noise of the subtraction (a small run's start-up took more CPU, or sat "
                "idle longer, than the full run's), not CPU given back.", ""]
    engine = {n: sum(cpu[n][g] for g in ENGINE_PARTS) for n in names}
    out += [f"Against (a), (b) took {wall['k2batch'] - wall['vllm']:+.1f} s of wall time per 1,000 rows. Its engine "
            f"processes (engine core and model worker) used {engine['k2batch'] - engine['vllm']:+.1f} CPU s, and its "
            "other processes (driver, engine actor, Ray Data workers, Ray's daemons) "
            f"{(total['k2batch'] - engine['k2batch']) - (total['vllm'] - engine['vllm']):+.1f} CPU s, on {r['cores']} "
            "cores that the engine's threads are bound to: a core another process holds delays the engine's step. "
            f"This run's engine threads waited with `OMP_WAIT_POLICY={r['wait_policy']}`: asleep (PASSIVE, k2batch's "
            "setting), such a delay shows as *unused*; spinning (libgomp's default), as more model-worker CPU "
            "seconds for the same rows.", ""]
    return out


def fixed_cost_text(r: dict) -> str:
    """The small-job paragraph: both sides' medians, every process's time, the extra seconds."""
    f = r["fixed_cost"]
    extra = f["k2batch_seconds"] - f["plain_vllm_seconds"]
    text = (f"A small job's whole cost, each side a fresh process {len(f['k2batch_runs'])} times, the two sides "
            f"alternating, medians: a plain vLLM process answering the same {r.get('fixed_rows', 8)} prompts "
            f"(importing vllm, starting the engine, one generate) took {f['plain_vllm_seconds']:.1f} s "
            f"({_each(f['plain_vllm_runs'])} s); `k2batch run` of those rows (importing its driver, Ray, engine, read, "
            f"write, commit) {f['k2batch_seconds']:.1f} s ({_each(f['k2batch_runs'])} s): **{extra:+.1f} s** (target at "
            f"most +{f['target_extra_seconds']:.0f} s).")
    if f.get("first_compile_seconds") is not None:
        text += (" Its plan found the schema's constraint compiled before, as every run of a schema after its "
                 "first on a machine does; a schema's first run adds the compile check: "
                 f"{f['first_compile_seconds']:+.1f} s here.")
    return text


def _each(seconds: list[float]) -> str:
    return ", ".join(f"{s:.1f}" for s in seconds)
