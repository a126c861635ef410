"""Label ceiling: `k2batch run` in label mode against one `vllm.LLM.generate` call on the
same prompt ids with the same sampling parameters (k2batch's own label constraint and
tag mask), start-up subtracted ((N - n) / (T(N) - T(n)), N = 6,144, n = 64), with the CPU
seconds each process of each run took (benchmarks/processes.py). Target: at least 0.9x.
Also a small job's whole cost: `k2batch run` of 8 rows (importing its driver included)
against a plain vLLM process answering the same 8 prompts (importing vllm, starting the
engine, one generate), each a fresh process three times, alternating; medians
(benchmarks/fixed_cost.py). Target: at most 10 s more.

Between them, each on a started engine of its own, timed like (a): (a2) vLLM's async engine client alone
(`AsyncLLM.generate` for every prompt at once), the client k2batch's engine actor drives,
and (b2) k2batch's engine actor code (K2Engine) fed the prepared rows as Ray Data feeds it,
in one process without Ray. a2/a, b2/a and b/a place the gap: the async client, k2batch's
own per-row work, and Ray with the rest of the job around the engine.

A label answer is a few tokens, so what k2batch does per row (blocks, frames, the
actor's loop, parsing, writing, progress) weighs far more beside the engine than in
extraction: this is where it shows. The machinery is engine_ceiling's (`--workload label`).

python -m benchmarks.label_ceiling [--quick] [--model PATH] [--reps R] [--json out.json]
"""

from benchmarks import engine_ceiling

if __name__ == "__main__":
    engine_ceiling.main({"workload": "label", "contenders": ("vllm", "asyncllm", "k2engine", "k2batch"), "rows": 6144,
                         "small": 64, "quick_rows": 256, "quick_small": 32, "fixed_rows": 8})
