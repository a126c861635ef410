"""The README's performance figures, quoted from the run that wrote BENCHMARKS.md: `make
bench` rewrites the block between the two markers, so no figure is typed by hand (every
number in it also stands in BENCHMARKS.md: tests/benchmarks/test_readme_figures.py)."""

import re
from pathlib import Path

START = "<!-- figures: written by `make bench` from the run that wrote BENCHMARKS.md; do not edit -->"
END = "<!-- /figures -->"


def figures(runs: dict, machine: dict, rerun: list[str] | None = None) -> list[str]:
    """The block's lines, each number formatted as BENCHMARKS.md prints it. `rerun`: the
    benchmarks of a section re-run (`machine` is that run's); the others' figures are
    those of the run BENCHMARKS.md dates them to."""
    def results(name):
        run = runs.get(name)
        return run["results"] if run and run["returncode"] == 0 and run["results"] else None

    def ratio(r, key):
        return f"{r['ratios'][key]:.2f}x" if key in r["ratios"] else "no ratio (see BENCHMARKS.md)"

    when = (f"{machine['date']}, commit {machine['commit']}, {machine['cores']} cores, load average "
            f"{machine['load_average_before'][0]:.1f} before and {machine['load_average_after'][0]:.1f} after")
    if rerun:
        when = f"each section as dated there; {', '.join(n.replace('_', ' ') for n in rerun)} re-run on {when}"
    out = [f"From [BENCHMARKS.md](BENCHMARKS.md) ({when}), the tiny model on CPU:", ""]
    if r := results("engine_ceiling"):
        out.append(f"- extraction: k2batch's rows/s {ratio(r, 'b/a')} one `vllm.LLM.generate` call's on the same "
                   f"prompts, {ratio(r, 'b/c')} `ray.data.llm`'s (start-up subtracted, equal work);")
    if r := results("label_ceiling"):
        fixed = ""
        if f := r.get("fixed_cost"):
            fixed = (f"; an {r.get('fixed_rows', 8)}-row job takes {f['k2batch_seconds'] - f['plain_vllm_seconds']:+.1f} s "
                     "beside a plain vLLM process answering the same rows")
        out.append(f"- label mode: {ratio(r, 'b/a')} the raw engine's rows/s{fixed};")
    if r := results("dedup"):
        out.append(f"- duplicate prompts answered once: {r['speedup']:.2f}x the rows/s with {r['duplicate_rows']} of "
                   f"{r['rows']} rows repeated;")
    if (r := results("schema_room")) and "contexts" in r:
        four, eight = r["contexts"]["4096"], r["contexts"]["8192"]
        out.append(f"- schemas too large for the prompt: of {r['loaded']} real-world schemas, {four['refused_before']} "
                   f"refused at a 4,096-token context with the full listing, {four['refused_after']} with the compact "
                   f"one ({eight['refused_before']} and {eight['refused_after']} at 8,192);")
    if (r := results("schema_coverage")) and "collections" in r:
        out.append(f"- JSON Schema coverage: k2batch accepts {r['all']['share_of_alone']:.1%} of the "
                   f"{r['all']['alone']} sample schemas xgrammar alone compiles;")
    if r := results("planning"):
        slow = max(r["s3"]["stores"].values(), key=lambda s: s["serial"]["per_1000_files_s"])
        out.append(f"- planning {r['s3']['files']:,} files on a store that answers late: {slow['speedup']:.1f}x faster "
                   "concurrently.")
    return out


def write(readme: Path, lines: list[str]) -> None:
    """Replace the block between the markers in `readme` (which must have them)."""
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no figures block ({START} ... {END})")
    readme.write_text(pattern.sub(lambda _: "\n".join([START, *lines, END]), text))


def block(readme_text: str) -> str:
    """The figures block's text (between the markers)."""
    return readme_text.split(START, 1)[1].split(END, 1)[0]
