"""A side-by-side ratio only over equal work: the engine benchmarks refuse to print a
ratio when their contenders processed different prompt or output tokens per row, and
BENCHMARKS.md says why instead of a figure."""

from benchmarks import report
from benchmarks.engine_ceiling import _results
from benchmarks.processes import GROUPS
from benchmarks.workload import unequal_work

ENV = {"VLLM_CPU_OMP_THREADS_BIND": "0-1", "VLLM_CPU_KVCACHE_SPACE": "2", "OMP_WAIT_POLICY": "PASSIVE"}


def runs(*, seconds: tuple[float, float], prompt: float, output: float, rows=(32, 1280)) -> list[dict]:
    return [{"size": size, "seconds": s, "rows": n, "prompt_tokens": prompt * n, "output_tokens": output * n,
             "cpu_seconds": dict.fromkeys(GROUPS, s / 2), "rejects": 0, "cached_prompt_tokens": 0}
            for size, s, n in (("small", seconds[0], rows[0]), ("big", seconds[1], rows[1]))]


def raw(k2batch_prompt: float) -> dict:
    return {"vllm": {"startup_seconds": 25.0, "runs": runs(seconds=(1.0, 20.0), prompt=1025, output=105)},
            "k2batch": {"runs": runs(seconds=(40.0, 60.0), prompt=k2batch_prompt, output=105)}}


def test_contenders_within_the_tolerance_did_equal_work():
    assert unequal_work({"a": (1025.0, 105.0), "b": (1030.0, 106.0)}) is None


def test_contenders_apart_by_more_than_the_tolerance_are_named_with_their_figures():
    problem = unequal_work({"(a) vllm": (1025.0, 105.0), "(b) k2batch": (734.0, 75.0)})
    assert problem.startswith("(b) k2batch processed 734.0 prompt / 75.0 output tokens per row against (a) vllm's "
                              "1025.0 / 105.0") and "more than 2% apart" in problem


def test_the_engine_ceiling_gives_a_ratio_over_equal_work_only():
    equal = _results(raw(1025), rows=1280, small=32, env=ENV, workload_name="label")
    assert equal["unequal_work"] is None and round(equal["ratios"]["b/a"], 2) == round((1248 / 20) / (1248 / 19), 2)
    unequal = _results(raw(734), rows=1280, small=32, env=ENV, workload_name="label")
    assert unequal["ratios"] == {} and "734.0 prompt" in unequal["unequal_work"]


def test_benchmarks_md_shows_no_ratio_for_unequal_work_and_counts_it_a_missed_target():
    results = _results(raw(734), rows=1280, small=32, env=ENV, workload_name="label")
    run = {"command": "python -m benchmarks.label_ceiling", "seconds": 300.0, "returncode": 0, "stdout": ["no ratio"],
           "results": results, "load_before": 0.2, "load_after": 0.3}
    section = "\n".join(report.render_section("label_ceiling", {"label_ceiling": run}))
    assert "**No ratio**: (b) `k2batch run` processed 734.0 prompt" in section and "b/a =" not in section
    (miss,) = report.missed_targets({"label_ceiling": run})
    assert miss["value"] is None and miss["benchmark"] == "label_ceiling"


def test_no_ratio_either_when_a_full_run_did_not_outlast_the_fixed_cost():
    noisy = raw(1025)
    noisy["k2batch"]["runs"] = runs(seconds=(101.0, 64.0), prompt=1025, output=105)
    results = _results(noisy, rows=1280, small=32, env=ENV, workload_name="label")
    assert results["unequal_work"] is None and results["ratios"] == {} and "no longer than" in results["warnings"][0]


def test_the_layers_between_a_and_b_get_ratios_that_place_the_gap_but_are_not_judged():
    layered = raw(1025)
    layered["asyncllm"] = {"startup_seconds": 25.0, "runs": runs(seconds=(1.0, 21.0), prompt=1025, output=105)}
    layered["k2engine"] = {"startup_seconds": 26.0, "runs": runs(seconds=(1.0, 22.0), prompt=1025, output=105)}
    results = _results(layered, rows=1280, small=32, env=ENV, workload_name="label")
    assert round(results["ratios"]["a2/a"], 3) == round(19 / 20, 3) and round(results["ratios"]["b2/a"], 3) == round(19 / 21, 3)
    run = {"command": "python -m benchmarks.label_ceiling", "seconds": 300.0, "returncode": 0, "stdout": ["ratio b/a"],
           "results": results, "load_before": 0.2, "load_after": 0.3}
    section = "\n".join(report.render_section("label_ceiling", {"label_ceiling": run}))
    assert "Where the gap between (a) and (b) lies, against (a): a2/a = 0.95, b2/a = 0.90." in section
    assert "| Part of the run | (a) vllm | (a2) asyncllm | (b2) k2engine | (b) k2batch |" in section
    assert [t.figure for t in report.targets({"label_ceiling": run})] == ["label mode: b/a rows/s (vllm.generate = 1)"]
