"""A small job's whole cost: `k2batch run` of a few rows (importing its driver, Ray,
engine, read, write, commit) against a plain vLLM process answering the same prompts
(importing vllm, starting the engine, one generate). Target (issue 26): at most 10 s more.

Each measurement is a fresh process, so every import and start-up is paid; the two sides
alternate, FIXED_REPS times each, and the figure is the difference of their medians. One
pair of processes is not enough: over five label-ceiling runs on one machine, with one
process of each side per run, `k2batch run` of the same 8 rows took 34 to 39 s and the
plain process 23 to 27 s.

The k2batch side plans the job before it is timed, as a schema's later runs find their
constraint compiled (schemas/compiled_constraints.py); its first pass also measures what
a schema's first run on a machine adds (`first_compile_seconds`).

Run by benchmarks/engine_ceiling.py (`--fixed-rows`; label_ceiling sets 8).
"""

import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from benchmarks import workload

FIXED_REPS = 3  # fresh processes of each side, alternating
TARGET_EXTRA_SECONDS = 10.0
SIDES = ("vllm", "k2batch")


def measure(module: str, child_args: list[str], *, env: dict, root: Path, reps: int = FIXED_REPS) -> dict:
    """Both sides, alternating, each run `python -m benchmarks.<module> CHILD_ARGS --fixed-side SIDE`."""
    seconds: dict[str, list[float]] = {side: [] for side in SIDES}
    first_compile = None
    for rep in range(reps):
        for side in SIDES:
            print(f"fixed cost: {side} (process {rep + 1} of {reps}) ...", flush=True)
            first = side == "k2batch" and rep == 0
            result = workload.run_child(module, [*child_args, "--fixed-side", side, *(["--first-compile"] if first else [])],
                                        env=env, log=root / f"fixed-{side}-{rep}.log")
            seconds[side].append(result["seconds"])
            if first:
                first_compile = result["first_compile_seconds"]
    return {"plain_vllm_seconds": statistics.median(seconds["vllm"]), "k2batch_seconds": statistics.median(seconds["k2batch"]),
            "plain_vllm_runs": seconds["vllm"], "k2batch_runs": seconds["k2batch"],
            "target_extra_seconds": TARGET_EXTRA_SECONDS, "first_compile_seconds": first_compile}


def run_side(side: str, source: str, folder: Path, root: Path, *, spec_for, first_compile: bool) -> dict:
    """One fresh process's measurement of `side` (child mode)."""
    if side == "vllm":
        return _plain_vllm(source, folder, root, spec_for=spec_for)
    return _k2batch_run(source, folder, root, spec_for=spec_for, first_compile=first_compile)


def _plain_vllm(source: str, folder: Path, root: Path, *, spec_for) -> dict:
    """What a plain vLLM process spends on the rows: importing vllm, starting the engine,
    one generate. The prompts (k2batch's) and sampling are made in between, off the clock."""
    started = time.monotonic()
    import vllm

    imported = time.monotonic() - started
    from jobs.plan.resolve import resolve_job

    checked = resolve_job(spec_for(source, folder, root / "out-vllm"))
    prompts = [{"prompt_token_ids": ids} for ids in workload.prompt_token_ids(checked)]
    params = workload.sampling_params(checked)
    started = time.monotonic()
    llm = vllm.LLM(**workload.engine_kwargs(checked.spec, source))
    llm.generate(prompts, params, use_tqdm=False)
    return {"seconds": imported + time.monotonic() - started}


def _k2batch_run(source: str, folder: Path, root: Path, *, spec_for, first_compile: bool) -> dict:
    """`k2batch run` of the rows, importing its driver included; planned once before, off the clock."""
    started = time.monotonic()
    from jobs.driver.run import run_job
    from jobs.plan.resolve import resolve_job

    imported = time.monotonic() - started
    spec = spec_for(source, folder, root / "out-k2batch")
    # Planned before, off the clock: the constraint compiled, as on a schema's later runs.
    if first_compile:
        result = {"first_compile_seconds": _first_compile_seconds(spec)}  # leaves the plan warm too
    else:
        resolve_job(spec)
        result = {}
    started = time.monotonic()
    run_job(spec, report=False)  # raises if records + rejects != input rows
    return {**result, "seconds": imported + time.monotonic() - started}


def _first_compile_seconds(spec) -> float:
    """What a schema's first run on a machine adds to planning: the constraint compile
    check, which later runs find cached (schemas/compiled_constraints.py). Planned once
    with an empty cache and once with this machine's, which that leaves filled."""
    from jobs.plan.resolve import resolve_job

    with tempfile.TemporaryDirectory() as empty, mock.patch.dict(os.environ, {"XDG_CACHE_HOME": empty}):
        started = time.monotonic()
        resolve_job(spec)
        first = time.monotonic() - started
    resolve_job(spec)
    started = time.monotonic()
    resolve_job(spec)
    return first - (time.monotonic() - started)
