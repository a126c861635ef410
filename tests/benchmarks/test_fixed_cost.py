"""A small job's whole cost is a difference of medians over fresh processes of each side,
alternating, and BENCHMARKS.md shows every process's time beside the figure."""

from benchmarks import fixed_cost, report, workload
from benchmarks.report_engine import fixed_cost_text


def test_the_sides_alternate_and_the_figure_is_the_difference_of_medians(monkeypatch, tmp_path):
    times = {"vllm": iter([25.0, 31.0, 24.0]), "k2batch": iter([34.0, 39.0, 33.0])}
    calls = []

    def run_child(module, args, *, env, log):
        side = args[args.index("--fixed-side") + 1]
        calls.append((side, "--first-compile" in args))
        return {"seconds": next(times[side]), **({"first_compile_seconds": 2.4} if "--first-compile" in args else {})}

    monkeypatch.setattr(workload, "run_child", run_child)
    f = fixed_cost.measure("label_ceiling", ["--workload", "label"], env={}, root=tmp_path)
    assert calls == [("vllm", False), ("k2batch", True), ("vllm", False), ("k2batch", False), ("vllm", False),
                     ("k2batch", False)]
    assert (f["plain_vllm_seconds"], f["k2batch_seconds"], f["first_compile_seconds"]) == (25.0, 34.0, 2.4)
    assert f["k2batch_runs"] == [34.0, 39.0, 33.0]


def test_benchmarks_md_gives_every_process_and_judges_the_median_difference(monkeypatch, tmp_path):
    seconds = {"vllm": iter([25.0, 31.0, 24.0]), "k2batch": iter([34.0, 39.0, 36.0])}
    monkeypatch.setattr(workload, "run_child", lambda module, args, *, env, log: {
        "seconds": next(seconds[args[args.index("--fixed-side") + 1]]), "first_compile_seconds": 2.0})
    results = {"fixed_rows": 8, "targets": {}, "ratios": {},
               "fixed_cost": fixed_cost.measure("label_ceiling", [], env={}, root=tmp_path)}
    run = {"results": results}
    (target,) = [t for t in report.targets({"label_ceiling": run}) if "8-row job" in t.figure]
    assert target.value == 36.0 - 25.0 and target.target == 10.0
    text = fixed_cost_text(results)
    assert "(25.0, 31.0, 24.0 s)" in text and "(34.0, 39.0, 36.0 s)" in text and "**+11.0 s**" in text
