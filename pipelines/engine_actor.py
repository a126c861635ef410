"""The one way an engine actor (operators/k2_engine.py K2Engine) is made: as the actor
pool of a run's engine stage (`engine_stage`, pipelines/stages.py), as one standalone
actor (`engine_actor`: `k2batch estimate`), or as the session's warm preview engine
(`warm_engine`: jobs/notebook.py). Each asks for a replica's resources
(operators/engine_settings.py replica_resources).

The warm engine is a named actor that lives as long as the session's Ray connection. A
machine holds one model copy, so a run stops it (`release_warm_engine`) before its own
engines start."""

import ray

from operators.engine_settings import replica_resources
from operators.k2_engine import K2Engine
from pipelines.flow_plan import FlowPlan

# Input blocks an engine actor works on at once: the next block starts while the last
# batches of one finish.
ENGINE_TASKS_PER_ACTOR = 2
# A pool that may grow (model.replicas {min, max}) queues this many blocks more at each
# replica: Ray Data adds a replica when the blocks sent to the pool reach 1.75x what its
# replicas work on at once (DataContext.autoscaling_config), which
# blocks in flight never reach without a queue.
GROWING_POOL_QUEUED_TASKS = 2
WARM_ENGINE = "k2batch-preview-engine"  # the warm engine's actor name
WARM_ENGINE_CONCURRENCY = 64  # a preview's calls: configure and answer, and whatever a notebook sends
# Ray stops an actor (named or not) once no handle to it is left: this one keeps the
# warm engine alive between calls for as long as the session's Ray connection.
_session = {"engine": None}


def _resources(plan: FlowPlan) -> dict:
    return replica_resources(plan.engine.identity.tensor_parallel_size, plan.stage.use_gpus)


def engine_stage(plan: FlowPlan) -> dict:
    """`Dataset.map_batches` arguments of the engine stage: a pool of `min_replicas` actors
    that Ray Data grows up to `max_replicas` while the cluster has room, each working on
    ENGINE_TASKS_PER_ACTOR input blocks at once.

    A replica whose process or node dies is restarted by Ray, on any node with room
    (`max_restarts=-1`), and the blocks it held are sent to it again (`max_task_retries=-1`):
    Ray Data's defaults in 2.60, set here so that a change of default cannot take away a
    run's survival of a lost node (docs/fault-tolerance.md)."""
    stage = plan.stage
    queued = GROWING_POOL_QUEUED_TASKS if stage.max_replicas > stage.min_replicas else 0
    return dict(
        fn=K2Engine, fn_constructor_kwargs=dict(engine=plan.engine, task=plan.task), batch_size=stage.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(min_size=stage.min_replicas, max_size=stage.max_replicas,
                                           max_tasks_in_flight_per_actor=ENGINE_TASKS_PER_ACTOR + queued),
        max_concurrency=ENGINE_TASKS_PER_ACTOR, max_restarts=-1, max_task_retries=-1, **_resources(plan),
    )


def engine_actor(plan: FlowPlan, *, max_concurrency: int = ENGINE_TASKS_PER_ACTOR, name: str | None = None):
    """One engine actor for `plan` (a handle; it loads the model as it starts)."""
    return ray.remote(K2Engine).options(name=name, max_concurrency=max_concurrency, **_resources(plan)).remote(
        engine=plan.engine, task=plan.task)


def warm_engine(plan: FlowPlan):
    """The session's warm engine, started only if none runs with this engine identity;
    the caller sets its task (`configure`)."""
    try:
        engine = ray.get_actor(WARM_ENGINE)
    except ValueError:
        engine = None
    if engine is not None and ray.get(engine.identity.remote()) == plan.engine.identity:
        return engine
    release_warm_engine()
    _session["engine"] = engine_actor(plan, max_concurrency=WARM_ENGINE_CONCURRENCY, name=WARM_ENGINE)
    return _session["engine"]


def release_warm_engine() -> None:
    """Stop the warm engine, if one runs (frees its cores or GPUs and memory)."""
    _session["engine"] = None
    if not ray.is_initialized():
        return
    try:
        ray.kill(ray.get_actor(WARM_ENGINE))
    except ValueError:
        pass  # none running
