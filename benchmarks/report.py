"""BENCHMARKS.md from the benchmarks' JSON results: machine, load, commands, results, the
targets and, where one is missed, the measured reason. The sections' bodies are in
benchmarks/report_engine.py and benchmarks/report_sections.py."""

import re
from typing import NamedTuple

from benchmarks import report_engine, report_sections
from benchmarks.confidence import render_section as confidence_section
from benchmarks.report_sections import status
from benchmarks.tag_mask import render_section as tag_mask_section

SECTIONS = {"engine_ceiling": report_engine.engine_ceiling, "label_ceiling": report_engine.engine_ceiling,
            "prefix_cache": report_sections.prefix_cache, "cpu_stages": report_sections.cpu_stages,
            "streaming_memory": report_sections.streaming_memory, "repair_loop": report_sections.repair_loop,
            "planning": report_sections.planning, "schema_coverage": report_sections.schema_coverage,
            "schema_room": report_sections.schema_room, "estimate_accuracy": report_sections.estimate_accuracy,
            "dedup": report_sections.dedup, "table_output": report_sections.table_output,
            "confidence": confidence_section, "tag_mask": tag_mask_section}


class Target(NamedTuple):
    benchmark: str
    figure: str
    kind: str  # "at least", "above", "below" or "at most"
    target: float
    value: float | None  # None: a ratio refused (unequal work, or runs that did not outlast their fixed cost)


def targets(runs: dict) -> list[Target]:
    """Every target of issues 7, 16, 18, 24, 25 and 26 that `runs` measured."""
    def results(name):
        run = runs.get(name)
        return run["results"] if run and run["results"] else None

    found = []
    for name, what in (("engine_ceiling", "extraction"), ("label_ceiling", "label mode")):
        if r := results(name):
            found += [Target(name, f"{what}: {ratio} rows/s ({'ray.data.llm' if ratio == 'b/c' else 'vllm.generate'} = 1)",
                             "at least", target, r["ratios"].get(ratio)) for ratio, target in r["targets"].items()]
    if (r := results("label_ceiling")) and (f := r.get("fixed_cost")):
        found.append(Target("label_ceiling", f"{r.get('fixed_rows', 8)}-row job: seconds beyond a plain vLLM process",
                            "at most", f["target_extra_seconds"], f["k2batch_seconds"] - f["plain_vllm_seconds"]))
    if r := results("prefix_cache"):
        found.append(Target("prefix_cache", "hit rate, share of prompt tokens", "above", r["target_hit_rate"], r["hit_rate"]))
    if r := results("cpu_stages"):
        found += [Target("cpu_stages", f"{stage}, rows/s per core", "at least", r["target_rows_per_core"],
                         r["stages"][stage]["rows_per_core_s"]["median"]) for stage in ("render", "parse+validate")]
    if r := results("streaming_memory"):
        found += [Target("streaming_memory", f"peak RSS 10N/N, {group}", "below", r["target_ratio"], r["ratios"][group])
                  for group in ("driver", "all workers together") if group in r["ratios"]]
    if r := results("planning"):
        found += [Target("planning", f"{r['s3']['files']:,} files on S3 ({store}), concurrent / one at a time", "at least",
                         r["target_speedup"], s["speedup"]) for store, s in r["s3"]["stores"].items()]
        found += [Target("planning", f"id check of {r['ids']['10N']:,} ids, driver peak RSS GiB", "below",
                         r["target_peak_gib"], r["peak_gib"]),
                  Target("planning", f"peak RSS {r['ids']['10N']:,} / {r['ids']['N']:,} ids", "below", r["target_growth"],
                         r["growth"])]
    if (r := results("schema_coverage")) and "collections" in r:
        found.append(Target("schema_coverage", "accepted / compiled by xgrammar alone, worst collection", "at least",
                            r["target_share"], r["worst_share"]))
    if (r := results("schema_room")) and "contexts" in r:
        found.append(Target("schema_room", "schemas refused for room at 4,096 tokens, after / before", "at most",
                            r["target_refused_share"], r["refused_share_4096"]))
    if r := results("estimate_accuracy"):
        found += [Target("estimate_accuracy", "completion tokens, |projected / measured - 1|", "below",
                         r["target_tokens_error"], abs(r["completion_tokens"]["error"])),
                  Target("estimate_accuracy", "engine time, |projected / measured - 1|", "below",
                         r["target_engine_error"], abs(r["engine_seconds"]["error"]))]
    if r := results("dedup"):
        found.append(Target("dedup", "rows/s dedup on / off, 30% duplicate rows", "at least", r["target_speedup"], r["speedup"]))
    if r := results("table_output"):
        found += [Target("table_output", f"rows/s {kind} table / Parquet folders", "at least", r["target_ratio"], ratio)
                  for kind, ratio in r["ratios"].items()]
    if r := results("confidence"):
        found += [Target("confidence", f"{mode} rows/s confidence on / off", "at least", r["targets"][mode], m["ratio"])
                  for mode, m in r["modes"].items()]
    return found


def missed_targets(runs: dict) -> list[dict]:
    """Every target the results miss (a refused ratio first), worst shortfall first."""
    misses = []
    for t in targets(runs):
        if status(t.value, t.target, t.kind) == "met":
            continue
        shortfall = (float("inf") if t.value is None else
                     t.value / t.target - 1 if t.kind in ("below", "at most") else 1 - t.value / t.target)
        misses.append({**t._asdict(), "what": t.figure, "shortfall": shortfall})
    return sorted(misses, key=lambda m: -m["shortfall"])


def render(*, machine: dict, runs: dict, misses: list[dict], quick: bool) -> str:
    out = ["# Benchmarks", "",
           f"Generated by `make bench` (`python -m benchmarks.run_all{' --quick' if quick else ''}`) on {machine['date']}, "
           f"commit {machine['commit']}, in {machine['total_minutes']:.1f} min: every section below comes from this one "
           "run. Do not edit by hand: rerun `make bench`.", ""]
    if quick:
        out += ["> **Smoke sizes (--quick)**: these numbers only show that the scripts run; they measure nothing.", ""]
    before, after = machine["load_average_before"], machine["load_average_after"]
    out += ["## Machine", "", "| | |", "|---|---|",
            f"| CPU | {machine['cpu_model']}, {machine['cores']} cores ({machine['usable_cores']} usable) |",
            f"| Memory | {machine['memory_gib']:.1f} GiB |", f"| OS | {machine['os']} |",
            *([f"| Engine dtype | {machine['engine_dtype']} (model.dtype auto: bfloat16 only on cores that compute it "
               "natively) |"] if "engine_dtype" in machine else []),
            f"| Versions | python {machine['python']}, vllm {machine['vllm']}, ray {machine['ray']}, torch {machine['torch']}, "
            f"transformers {machine['transformers']}, pyarrow {machine['pyarrow']}, xgrammar {machine['xgrammar']} |",
            f"| Load average (1 min) | {before[0]:.1f} before, {after[0]:.1f} after (each section gives its own): above "
            "~0.5 means something else shared the cores and every figure below is suspect |", ""]
    out += _summary(runs, misses)
    for name in SECTIONS:
        if name in runs:
            out += render_section(name, runs)
    out += ["## Commands", "", "Run from the repository root with the project's venv; `make bench` runs the first.", "", "```",
            "python -m benchmarks.run_all" + (" --quick" if quick else "")]
    out += [run["command"] for run in runs.values()] + ["```", ""]
    return "\n".join(out)


def render_section(name: str, runs: dict) -> list[str]:
    """One benchmark's section, headed `## <number>. <Name>`."""
    number = list(SECTIONS).index(name) + 1
    run = runs[name]
    load = (f", load average {run['load_before']:.1f} before and {run['load_after']:.1f} after" if "load_before" in run
            else "")
    out = [f"## {number}. {name.replace('_', ' ').capitalize()}", "", f"`{run['command']}` ({run['seconds']:.0f} s{load})", ""]
    if run["returncode"] != 0 or not run["results"]:
        return out + ["**Failed.** Last lines of its error output:", "", "```", run["stderr_tail"].strip()[-2000:], "```", ""]
    return out + SECTIONS[name](run["results"], runs) + ["Last line: `" + run["stdout"][-1] + "`", ""]


def replace_sections(document: str, runs: dict, note: str) -> str:
    """`document` (a BENCHMARKS.md) with the sections of `runs` rendered anew (or added
    before the commands), every other section kept as it was."""
    blocks = re.split(r"(?m)^(?=## )", document)
    for name in runs:
        new = "\n".join(render_section(name, runs)[:1] + ["", note] + render_section(name, runs)[1:]) + "\n"
        title = new.splitlines()[0]
        index = next((i for i, b in enumerate(blocks) if b.splitlines()[0] == title), None)
        if index is None:
            index = next((i for i, b in enumerate(blocks) if b.startswith("## Commands")), len(blocks))
            blocks.insert(index, new)
        else:
            blocks[index] = new
    return "".join(_retarget(block, runs) if block.startswith("## Targets") else block for block in blocks)


RERUN_MARK = " (section re-run)"  # after a benchmark's name in the Targets rows `run_all --only` rewrote


def _retarget(block: str, runs: dict) -> str:
    """The Targets table with the rows of the benchmarks in `runs` measured anew (marked so)."""
    names = {name.replace("_", " ") for name in runs}

    def rerun(line: str) -> bool:
        return line.startswith("| ") and line.split("|")[1].strip().removesuffix(RERUN_MARK) in names

    lines = block.splitlines(keepends=True)
    kept = [line for line in lines if not rerun(line)]
    # Where the first of them was (nothing before it was dropped), or after the table's last row.
    at = next((i for i, line in enumerate(lines) if rerun(line)),
              max(i for i, line in enumerate(kept) if line.startswith("|")) + 1)
    marked = [row + "\n" for row in _target_rows(runs, mark=RERUN_MARK)]
    return "".join(kept[:at] + marked + kept[at:])


def _target_rows(runs: dict, *, mark: str = "") -> list[str]:
    """The Targets table's rows of what `runs` measured; `mark` follows each benchmark's name."""
    rows = []
    for t in targets(runs):
        digits = 0 if t.target >= 100 else 2
        value = "no ratio" if t.value is None else f"{t.value:,.{digits}f}"
        rows.append(f"| {t.benchmark.replace('_', ' ')}{mark} | {t.figure} | {t.kind} {t.target:,.{digits}f} | {value} | "
                    f"{status(t.value, t.target, t.kind)} |")
    return rows


def _summary(runs: dict, misses: list[dict]) -> list[str]:
    out = ["## Targets", "", "| Benchmark | Figure | Target | Measured | Status |", "|---|---|---|---|---|",
           *_target_rows(runs), ""]
    if misses:
        worst = misses[0]
        value = "no ratio" if worst["value"] is None else f"{worst['value']:.2f}"
        out += [f"Worst miss: {worst['what']} ({worst['benchmark']}), {value} against {worst['kind']} "
                f"{worst['target']:.2f}; see the {worst['benchmark'].replace('_', ' ')} section.", ""]
    return out
