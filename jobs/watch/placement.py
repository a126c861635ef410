"""Where a run's engines ran: each engine actor's node and how often Ray restarted it,
for summary.json. Read from Ray's actor table (the GCS, so no dashboard is needed),
where Ray Data names an actor pool's actors after their UDF:
`MapWorker(MapBatches(K2Engine))`."""

import time

import ray

from jobs.storage.run_summary import EngineRun

ENGINE_CLASS = "K2Engine"


def now_ms() -> int:
    """The actor table's clock: milliseconds since the epoch."""
    return int(time.time() * 1000)


def engine_placement(since_ms: int) -> list[EngineRun]:
    """The engine actors this driver's job started after `since_ms` (a notebook session
    runs several jobs in one Ray job), oldest first: node id and restarts."""
    from ray._private.state import actors  # a DeveloperAPI of Ray 2.60, which pyproject pins

    job_id = ray.JobID.from_hex(ray.get_runtime_context().get_job_id())
    engines = [a for a in actors(job_id=job_id).values()
               if ENGINE_CLASS in a["ActorClassName"] and a["StartTime"] >= since_ms]
    return [EngineRun(node_id=a["Address"]["NodeID"], restarts=a["NumRestarts"])
            for a in sorted(engines, key=lambda a: a["StartTime"])]
