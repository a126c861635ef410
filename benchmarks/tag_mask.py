"""What K2's tag mask costs the engine, as k2batch applies it (a logits processor given
the few masked ids: operators/tag_mask.py) and as vLLM's `allowed_token_ids` would
(every other id of the vocabulary in each request), side by side on one started engine:
label mode's prompts through `vllm.LLM.generate` with each, alternating, the prefix
cache reset before each, REPS times. Equal work is checked (the same answers' tokens).

Beside it, what one request's sampling parameters cost vLLM's front end to copy (each
request gets its own copy) at K2's vocabulary size, which the tiny test model does not
have: its vocabulary is 522 ids, K2's 32,032.

python -m benchmarks.tag_mask [--quick] [--model PATH] [--json out.json]
"""

import argparse
import statistics

from benchmarks import workload

REPS = 3  # generate calls of each setting, alternating
ROWS = 6144  # the label ceiling's N
K2_VOCAB = 32_032
SETTINGS = ("allowed_token_ids", "tag_mask")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the engine side, over the rows written
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "tag_mask"
    reps = 1 if args.quick else REPS
    if args.child:
        workload.emit_child_result(_engine(_spec(source, root), source, reps=reps))
        return
    rows = 64 if args.quick else ROWS
    workload.write_news_rows(root / "rows", rows=rows, files=1, unique=True)
    print(f"label prompts through vLLM alone, the tag mask both ways: {rows} rows ...", flush=True)
    results = workload.run_child("tag_mask", ["--child", *(["--quick"] if args.quick else []),
                                              *(["--model", args.model] if args.model else [])],
                                 env=workload.engine_env(_spec(source, root)), log=root / "engine.log")
    results["copy_ms"] = _copy_ms(K2_VOCAB, masked=results["masked_ids"])
    results["vocab_measured"] = K2_VOCAB
    workload.write_results(args.json, results)
    print(summary_line(results))


def _spec(source: str, root):
    from benchmarks.contenders import label_spec

    return label_spec(source, root / "rows", root / "out")


def _fields(checked, vocab: int) -> dict[str, dict]:
    """The answer's sampling fields both ways: as k2batch builds them, and with the same
    ids masked through allowed_token_ids instead."""
    from operators.sampling import MASKED_IDS_ARG

    fields = workload.sampling_kwargs(checked)
    masked = set(fields["extra_args"][MASKED_IDS_ARG])
    plain = {k: v for k, v in fields.items() if k != "extra_args"}
    return {"allowed_token_ids": {**plain, "allowed_token_ids": [i for i in range(vocab) if i not in masked]},
            "tag_mask": fields}


def _engine(spec, source: str, *, reps: int) -> dict:
    import vllm

    from jobs.plan.resolve import resolve_job
    from operators.sampling import MASKED_IDS_ARG, sampling_params

    checked = resolve_job(spec)
    prompts = [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(checked)]
    llm = vllm.LLM(**workload.engine_kwargs(spec, source))
    vocab = llm.llm_engine.model_config.get_vocab_size()
    params = {setting: sampling_params(fields) for setting, fields in _fields(checked, vocab).items()}
    llm.generate(prompts[:32], params["tag_mask"], use_tqdm=False)  # warm-up: first-request compilation, grammar cache
    runs = workload.alternating_generates(llm, prompts, params, reps=reps)
    result = {s: {**workload.summarize(runs[s]["rows_per_s"]), "output_tokens": runs[s]["output_tokens"]} for s in SETTINGS}
    per_row = {s: (runs[s]["prompt_tokens"][0] / len(prompts), statistics.mean(runs[s]["output_tokens"]) / len(prompts))
               for s in SETTINGS}
    unequal = workload.unequal_work(per_row)
    return {**result, "rows": len(prompts), "vocab": vocab, "masked_ids": len(params["tag_mask"].extra_args[MASKED_IDS_ARG]),
            "unequal_work": unequal, "ratio": None if unequal else result["tag_mask"]["median"] / result["allowed_token_ids"]["median"]}


def _copy_ms(vocab: int, *, masked: int, reps: int = 200) -> dict[str, float]:
    """Milliseconds to copy one request's SamplingParams (what vLLM's front end does per
    request) with a `vocab`-sized vocabulary and `masked` ids masked, both ways."""
    import timeit

    from operators.sampling import MASKED_IDS_ARG, sampling_params

    both = {"allowed_token_ids": sampling_params({"max_tokens": 64, "allowed_token_ids": list(range(masked, vocab))}),
            "tag_mask": sampling_params({"max_tokens": 64, "extra_args": {MASKED_IDS_ARG: list(range(masked))}})}
    return {setting: timeit.timeit(params.clone, number=reps) / reps * 1000 for setting, params in both.items()}


def summary_line(r: dict) -> str:
    ratio = "no ratio (unequal work)" if r["ratio"] is None else f"tag mask / allowed_token_ids = {r['ratio']:.2f}"
    return (f"rows/s: allowed_token_ids {r['allowed_token_ids']['median']:.1f}, tag mask {r['tag_mask']['median']:.1f}; "
            f"{ratio}; copying one request's parameters at {r['vocab_measured']:,} ids: "
            f"{r['copy_ms']['allowed_token_ids']:.2f} ms against {r['copy_ms']['tag_mask']:.3f} ms")


def render_section(r: dict, runs: dict) -> list[str]:
    """BENCHMARKS.md's section (benchmarks/report.py)."""
    a, t = r["allowed_token_ids"], r["tag_mask"]
    out = [f"Label mode's {r['rows']:,} prompts (the label ceiling's workload) through one started `vllm.LLM` with "
           "k2batch's engine arguments and sampling, `generate` timed with K2's tags masked two ways, alternating, "
           "the prefix cache reset before each: as k2batch masks them, a logits processor given the "
           f"{r['masked_ids']} masked ids in each request's `extra_args` (operators/tag_mask.py), and through vLLM's "
           f"`allowed_token_ids`, each request listing the other {r['vocab'] - r['masked_ids']:,} ids of the model's "
           f"{r['vocab']:,}.", "",
           "| Tag mask | rows/s | output tokens |", "|---|---|---|",
           f"| `allowed_token_ids` | {workload.fmt(a, digits=1)} | {a['output_tokens'][0]:,} |",
           f"| logits processor (k2batch) | {workload.fmt(t, digits=1)} | {t['output_tokens'][0]:,} |", ""]
    out.append(f"**No ratio**: {r['unequal_work']}" if r["ratio"] is None else
               f"Ratio of medians, logits processor / `allowed_token_ids`: **{r['ratio']:.2f}x**.")
    out += ["", f"At K2's vocabulary of {r['vocab_measured']:,} ids, copying one request's sampling parameters, which "
            "vLLM's front end does for every request, takes "
            f"{r['copy_ms']['allowed_token_ids']:.2f} ms with `allowed_token_ids` and {r['copy_ms']['tag_mask']:.3f} ms "
            "with the masked ids (one process, `SamplingParams.clone`, the mean of 200). vLLM also checks each listed id, "
            "sends the list to the engine core and writes it into the request's mask row, which this copy leaves out.", ""]
    return out


if __name__ == "__main__":
    main()
