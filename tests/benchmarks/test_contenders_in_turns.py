"""The side-by-side engine benchmarks run their contenders in turns, one fresh process each
per repetition, so that a drift in the machine's speed falls on every contender alike."""

from benchmarks import engine_ceiling, workload


def test_each_repetition_runs_every_contender_once_in_turn_and_the_runs_add_up(monkeypatch, tmp_path):
    calls = []

    def run_child(module, args, *, env, log):
        name = args[args.index("--contender") + 1]
        reps, small_reps = int(args[args.index("--reps") + 1]), int(args[args.index("--small-reps") + 1])
        calls.append((name, small_reps, reps))
        runs = [{"size": "small", "seconds": 1.0}] * small_reps + [{"size": "big", "seconds": 10.0 + len(calls)}] * reps
        return {"runs": runs, **({"startup_seconds": 20.0 + len(calls)} if name == "vllm" else {})}

    monkeypatch.setattr(workload, "run_child", run_child)
    raw = engine_ceiling.run_in_turns(["vllm", "k2batch"], ["--workload", "label"], env={}, root=tmp_path, reps=3,
                                      small_reps=2)
    assert calls == [("vllm", 1, 1), ("k2batch", 1, 1), ("vllm", 1, 1), ("k2batch", 1, 1), ("vllm", 0, 1),
                     ("k2batch", 0, 1)]
    assert [r["size"] for r in raw["k2batch"]["runs"]] == ["small", "big", "small", "big", "big"]
    assert [r["seconds"] for r in raw["vllm"]["runs"] if r["size"] == "big"] == [11.0, 13.0, 15.0]
    # (a)'s engine start-up: the median over its processes
    assert raw["vllm"]["startup_runs"] == [21.0, 23.0, 25.0] and raw["vllm"]["startup_seconds"] == 23.0
    assert "startup_seconds" not in raw["k2batch"]
