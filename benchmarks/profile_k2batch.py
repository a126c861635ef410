"""Where the CPU goes during a `k2batch run`: py-spy samples every Python process of the
run (driver, Ray Data workers, the engine actor, vLLM's engine core) and this sums the
samples by process group and by function.

python -m benchmarks.profile_k2batch [--quick] [--rows N] [--json out.json]
"""

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchmarks import workload
from benchmarks.streaming_memory import RAY_DAEMONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny input: a smoke test")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--rows", type=int, default=None, help="rows of the profiled run (default 320; quick 24)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # child mode: the profiled run itself
    args = parser.parse_args()
    source = workload.model_source(args.model)
    root = workload.WORKDIR / "profile_k2batch"
    if args.run:
        from jobs.run import run_job

        run_job(workload.job_spec(name="bench-profile", model=source, input_uri=Path(args.run), output_uri=root / "out"))
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    rows = args.rows or (24 if args.quick else 320)
    folder = workload.write_news_rows(root / f"rows-{rows}", rows=rows, files=4)
    env = workload.engine_env(workload.job_spec(name="bench-profile", model=source, input_uri=folder, output_uri=root / "out"))
    raw = root / "py-spy.txt"
    command = [py_spy, "record", "--subprocesses", "--nonblocking", "--format", "raw", "--rate", "20", "-o", str(raw), "--",
               sys.executable, "-m", "benchmarks.profile_k2batch", "--run", str(folder), *(["--model", args.model] if args.model else [])]
    result = subprocess.run(command, cwd=workload.ROOT, env={**os.environ, "PYTHONPATH": str(workload.ROOT), **env},
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"py-spy run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    results = {"rows": rows, "command": " ".join(command[:9]) + " -- k2batch run", **aggregate(raw.read_text())}
    workload.write_results(args.json, results)
    print(format_profile(results))
    top = results["groups"][0]
    print(f"ratio {top['group']} samples / all samples = {top['share']:.2f}")


def _group(command: str, frames: set[str]) -> str:
    """A process's part in the run. Ray workers keep their spawn command line in py-spy's
    view, so what they run (their frames) tells the engine actor from the other workers."""
    running = {f for f in frames if not f.startswith("<module>")}  # not what a process merely imported
    if any("run_engine_core" in f or "EngineCoreProc" in f for f in running):
        return "vllm engine core"
    if any("(operators/k2_engine.py" in f for f in running):
        return "engine actor (Python around the engine)"
    if "default_worker" in command:
        return "ray data workers (read, prepare, write)"
    if "profile_k2batch" in command:
        return "driver"
    return "ray daemons and other"


def aggregate(raw_text: str, top: int = 8) -> dict:
    """py-spy raw lines are `process P:"cmd";[process C:"cmd";]frame;...;frame COUNT`: the
    last `process` entry is the sampled process, the ones before it are its parents."""
    stacks = []
    frames_of: dict[str, set[str]] = {}
    for line in raw_text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        last = max((i for i, f in enumerate(frames) if f.startswith("process ")), default=None)
        if last is None:
            continue
        process, own = frames[last], frames[last + 1:]
        frames_of.setdefault(process, set()).update(own)
        stacks.append((process, own[-1] if own else "?", int(count)))
    group_of = {p: _group(p.split(":", 1)[-1], f) for p, f in frames_of.items()}
    by_group: Counter = Counter()
    self_by_group: dict[str, Counter] = {}
    for process, leaf, samples in stacks:
        by_group[group_of[process]] += samples
        self_by_group.setdefault(group_of[process], Counter())[leaf] += samples
    total = sum(by_group.values())
    groups = [{"group": g, "samples": n, "share": n / total if total else 0.0,
               "top_self": [{"function": f, "share_of_group": c / n} for f, c in self_by_group[g].most_common(top)]}
              for g, n in by_group.most_common()]
    return {"total_samples": total, "groups": groups}


def format_profile(results: dict) -> str:
    lines = [f"py-spy, {results['total_samples']} samples over the whole run ({results['rows']} rows), start-up included, "
             "of Python threads py-spy saw as active (a Ray worker waiting inside its C++ loop, Worker.main_loop, "
             "counts; engine compute in torch's C++ kernels shows as its Python caller):"]
    for group in results["groups"]:
        lines.append(f"  {group['share']:6.1%}  {group['group']}")
        for fn in group["top_self"][:5]:
            lines.append(f"            {fn['share_of_group']:6.1%}  {fn['function']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
