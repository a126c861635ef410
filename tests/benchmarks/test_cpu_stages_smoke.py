"""The CPU-stage benchmark runs end to end on the real operators (no engine), as
`make bench` runs it; the engine benchmarks are smoke-tested by `python -m
benchmarks.run_all --quick` (minutes, so not in the default suite)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cpu_stages_quick_measures_every_stage_and_ends_with_its_ratio(tmp_path, tiny_model):
    results_file = tmp_path / "cpu_stages.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.cpu_stages", "--quick", "--profile", "--model", str(tiny_model),
         "--json", str(results_file)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "K2BATCH_BENCH_DIR": str(tmp_path / "work")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(results_file.read_text())
    assert set(results["stages"]) >= {"render", "parse+validate", "arrow", "arrow+parquet write"}
    assert all(stage["rows_per_core_s"]["median"] > 0 for stage in results["stages"].values())
    assert "prepare_prompts.py" in results["profile"] or "parse_tool_call" in results["profile"]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("ratio ") and float(last.rsplit("=", 1)[1]) == round(results["ratio_worst_to_target"], 2)


def test_report_lists_missed_targets_worst_first():
    from benchmarks.report import missed_targets

    stage = lambda rate: {"rows_per_core_s": {"median": rate}}  # noqa: E731
    runs = {
        "cpu_stages": {"results": {"target_rows_per_core": 20_000,
                                   "stages": {"render": stage(1_000), "parse+validate": stage(50_000)}}},
        "engine_ceiling": {"results": {"ratios": {"b/a": 0.80, "b/c": 1.2}, "targets": {"b/a": 0.95, "b/c": 1.0}}},
        "streaming_memory": {"results": {"target_ratio": 1.3, "ratios": {"driver": 1.05, "all workers together": 1.4}}},
    }
    misses = missed_targets(runs)
    assert [m["what"] for m in misses] == [
        "render, rows/s per core", "extraction: b/a rows/s (vllm.generate = 1)", "peak RSS 10N/N, all workers together",
    ]
