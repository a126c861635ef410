"""Every process of a run, grouped by its part in the run, with peak memory and CPU
seconds per group: what the memory and engine-ceiling benchmarks report.

A run's processes are this process and its descendants: Ray's daemons and workers of a
local cluster, the actor that owns a vLLM engine, and the engine's own processes.
"""

import threading

import psutil

# Ray's own processes, by title: the rest of "ray::..." are workers that run tasks or actors.
RAY_DAEMONS = ("raylet", "gcs_server", "DashboardAgent", "RuntimeEnvAgent", "dashboard", "monitor.py", "log_monitor")
GROUPS = ("driver", "engine actor", "vllm engine core", "vllm model worker", "ray data workers", "ray daemons", "other")
GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def _title(process: psutil.Process) -> str:
    return " ".join(process.cmdline()) or process.name()


def group_of(pid: int, title: str, driver_pid: int, engine_parents: set[int]) -> str:
    """A process's part in the run, from its title (Ray and vLLM set them). The engine
    actor is the process that started a vLLM engine core, whatever its framework calls it
    (k2batch's K2Engine, ray.data.llm's engine stage); in a plain `vllm.LLM` run that is
    the driver itself."""
    if pid == driver_pid:
        return "driver"
    if any(daemon in title for daemon in RAY_DAEMONS):
        return "ray daemons"
    if "EngineCore" in title:
        return "vllm engine core"
    if "VLLM::" in title:  # VLLM::Worker and its tensor-parallel siblings: the model's forward passes
        return "vllm model worker"
    if pid in engine_parents:
        return "engine actor"
    if title.startswith("ray::") or "default_worker.py" in title:
        return "ray data workers"
    return "other"  # e.g. compile or resource-tracker helpers


class ProcessSampler:
    """Samples this process and its descendants every `interval` seconds in a thread,
    or on demand with `sample()`: peak RSS per group, and CPU seconds per group since
    the sampler started (a process that exits keeps the CPU it had at its last sample)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.me = psutil.Process()
        self.peak_rss = dict.fromkeys(GROUPS, 0.0)
        self.peak_rss_workers_total = 0.0
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (group, CPU seconds at the last sample)
        self._baseline: dict[int, float] = {}  # what ran before the sampler counts from here
        for process in self._processes():
            try:
                self._baseline[process.pid] = _cpu_seconds(process)
            except GONE:
                continue
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "ProcessSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.sample()

    def _processes(self) -> list[psutil.Process]:
        return [self.me, *self.me.children(recursive=True)]

    def _loop(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def sample(self) -> None:
        seen = []
        for process in self._processes():
            try:
                seen.append((process, _title(process), process.memory_info().rss, _cpu_seconds(process),
                             process.ppid()))
            except GONE:
                continue  # ended between the listing and the read
        engine_parents = {ppid for _, title, _, _, ppid in seen if "EngineCore" in title}
        rss = dict.fromkeys(GROUPS, 0.0)
        with self._lock:
            for process, title, memory, cpu, _ in seen:
                group = group_of(process.pid, title, self.me.pid, engine_parents)
                before = self._cpu.get(process.pid, (None, 0.0))[0]
                # Keep what a process was once known to be: an engine actor whose engine
                # has exited, a worker between its start and its first title.
                if before == "engine actor" or (group == "other" and before):
                    group = before
                rss[group] += memory
                self._cpu[process.pid] = (group, cpu - self._baseline.get(process.pid, 0.0))
            for group, value in rss.items():
                self.peak_rss[group] = max(self.peak_rss[group], value)
            self.peak_rss_workers_total = max(self.peak_rss_workers_total, sum(v for g, v in rss.items() if g != "driver"))

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds per group since the sampler started, as of the last sample."""
        totals = dict.fromkeys(GROUPS, 0.0)
        with self._lock:
            for group, cpu in self._cpu.values():
                totals[group] += cpu
        return totals


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system
