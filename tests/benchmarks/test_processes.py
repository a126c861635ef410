"""The process accounting behind the benchmarks' "where the CPU went" and memory tables,
on real processes titled as Ray and vLLM title theirs."""

import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from benchmarks.processes import ProcessSampler, group_of

# A child that titles itself, burns `burn` CPU seconds, then starts a titled grandchild
# (if any) and waits to be killed.
CHILD = textwrap.dedent("""
    import subprocess, sys, time, setproctitle
    title, burn, grandchild = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    setproctitle.setproctitle(title)
    end = time.process_time() + burn
    while time.process_time() < end:
        pass
    if grandchild:
        subprocess.Popen([sys.executable, "-c", sys.argv[4], grandchild, "0", ""])
    print("ready", flush=True)
    time.sleep(600)
""")


def start(title: str, burn: float, grandchild: str = "") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, title, str(burn), grandchild, CHILD],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def wait_for_children(proc: subprocess.Popen, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        if len(children) >= count and all(c.cmdline() and c.cmdline()[0].startswith("VLLM::") for c in children):
            return children
        time.sleep(0.05)
    raise AssertionError(f"{proc.pid} did not start its titled child")


def wait_until_ended(process: psutil.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"{process.pid} did not end")


@pytest.mark.parametrize(("title", "expected"), [
    ("raylet --raylet_socket_name=/tmp/x", "ray daemons"),
    ("/venv/bin/gcs_server --config", "ray daemons"),
    ("VLLM::EngineCore", "vllm engine core"),
    ("VLLM::Worker_TP0", "vllm model worker"),
    ("ray::MapBatches(PreparePrompts)", "ray data workers"),
    ("python -u /venv/lib/python3.11/site-packages/ray/_private/workers/default_worker.py", "ray data workers"),
    ("python -m torch._inductor.compile_worker", "other"),
])
def test_titles_name_the_part_of_the_run(title, expected):
    assert group_of(123, title, driver_pid=1, engine_parents=set()) == expected


def test_the_process_that_started_an_engine_core_is_the_engine_actor_whatever_its_title():
    assert group_of(7, "ray::_MapWorker", driver_pid=1, engine_parents={7}) == "engine actor"
    assert group_of(1, "python bench.py", driver_pid=1, engine_parents={1}) == "driver"  # vllm.LLM in the driver


def test_cpu_seconds_go_to_each_process_group_and_outlive_the_engine():
    sampler = ProcessSampler(interval=0.1)
    actor = start("ray::_MapWorker(vLLMEngineStageUDF)", burn=0.4, grandchild="VLLM::EngineCore")
    data_worker = start("ray::MapBatches(PreparePrompts)", burn=0.2)
    try:
        engine_core, = wait_for_children(actor, 1)
        sampler.sample()
        engine_core.kill()
        wait_until_ended(engine_core)  # a zombie of the actor, which never reaps it
        sampler.sample()  # the actor's engine has gone: it still counts as the engine actor
        cpu = sampler.cpu_seconds()
    finally:
        for proc in (actor, data_worker):
            proc.kill()
            proc.wait()
    assert 0.4 <= cpu["engine actor"] < 1.5
    assert 0.2 <= cpu["ray data workers"] < 1.0
    assert cpu["vllm engine core"] < 1.0  # it only started: its CPU is start-up, not the actor's burn
    assert cpu["driver"] < 1.0  # this process only waited
    assert sampler.peak_rss["engine actor"] > 0 and sampler.peak_rss["vllm engine core"] > 0
