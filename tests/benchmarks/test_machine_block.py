"""BENCHMARKS.md's machine block says which type the engines computed in: every rows/s
figure depends on it (model.dtype auto differs by CPU)."""

from benchmarks import report
from benchmarks.run_all import machine_info
from operators.engine_settings import cpu_has_native_bf16


def test_the_machine_block_names_the_engines_dtype_on_this_machine():
    machine = {**machine_info(), "total_minutes": 1.0, "load_average_after": (0.0, 0.0, 0.0)}
    assert machine["engine_dtype"] == ("bfloat16" if cpu_has_native_bf16() else "float32")
    text = report.render(machine=machine, runs={}, misses=[], quick=False)
    assert f"| Engine dtype | {machine['engine_dtype']} (model.dtype auto" in text
