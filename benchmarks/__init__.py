"""Side-by-side benchmarks: run each as `python -m benchmarks.<name>` from the repo root,
or all of them with `python -m benchmarks.run_all`, which rewrites BENCHMARKS.md."""
