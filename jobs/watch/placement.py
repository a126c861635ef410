"""Where a run's engines ran: each engine replica's node, how often Ray restarted it and
how many of the committed rows it answered, for summary.json. The node and the restarts
are read from Ray's actor table (the GCS, so no dashboard is needed), where Ray Data
names an actor pool's actors after their UDF: `MapWorker(MapBatches(K2Engine))`. The
rows come from the writer's reports, which name the replica's process that answered
them (`WrittenFile.replica`), and the engines' board, which knows each process's actor
(operators/engine_progress.py): a replica that Ray restarted, on its node or another,
is one replica whose rows add up over its processes."""

import time
from collections import Counter

import ray

from jobs.storage.run_summary import EngineRun
from operators.engine_progress import EngineInstance

ENGINE_CLASS = "K2Engine"


def now_ms() -> int:
    """The actor table's clock: milliseconds since the epoch."""
    return int(time.time() * 1000)


def engine_placement(since_ms: int, instances: list[EngineInstance] = (),
                     rows_by_replica: Counter | None = None) -> list[EngineRun]:
    """The engine actors this driver's job started after `since_ms` (a notebook session
    runs several jobs in one Ray job), oldest first: node id, restarts, and the rows
    `rows_by_replica` gives the processes `instances` says were theirs."""
    from ray._private.state import actors  # a DeveloperAPI of Ray 2.60, which pyproject pins

    job_id = ray.JobID.from_hex(ray.get_runtime_context().get_job_id())
    engines = [a for a in actors(job_id=job_id).values()
               if ENGINE_CLASS in a["ActorClassName"] and a["StartTime"] >= since_ms]
    rows = rows_by_replica or Counter()
    processes: dict[str, set[str]] = {}
    for instance in instances:
        processes.setdefault(instance.actor, set()).add(instance.replica)
    return [EngineRun(node_id=a["Address"]["NodeID"], restarts=a["NumRestarts"],
                      rows=sum(rows[replica] for replica in processes.get(a["ActorID"], ())))
            for a in sorted(engines, key=lambda a: a["StartTime"])]
