"""The one engine-actor factory: the engine stage's map_batches arguments, a standalone
actor with a replica's resources, and the session's warm engine (reused for the same
engine identity, replaced for another, stopped by a run). A stand-in for K2Engine is
injected through the factory's module, as the stall guard's wedged engine is."""

from dataclasses import replace

import pytest
import ray

from operators.engine_settings import EngineIdentity, EngineSettings
from operators.k2_engine import K2Engine
from pipelines import engine_actor
from pipelines.flow_plan import EngineStageSettings, FlowPlan, ReadSettings

IDENTITY = EngineIdentity(source="/models/k2", revision=None, tensor_parallel_size=1, max_model_len=512,
                          enable_prefix_caching=True, seed=0, cpu_kv_cache_gib=1, gpu_memory_utilization=0.9)


def plan(identity: EngineIdentity = IDENTITY, *, replicas: int = 3, max_replicas: int | None = None,
         use_gpus: bool = False) -> FlowPlan:
    return FlowPlan(mode="extract", read=ReadSettings(units=[], filesystem=None, columns=[], schema=None), prompts=None,
                    response_column=None, engine=EngineSettings(identity=identity), task="the task",
                    stage=EngineStageSettings(min_replicas=replicas, max_replicas=max_replicas or replicas, batch_size=16,
                                              max_batches_in_flight=4, use_gpus=use_gpus))


def test_the_engine_stage_is_a_pool_of_k2_engines_with_a_replicas_resources():
    stage = engine_actor.engine_stage(plan())
    assert stage["fn"] is K2Engine and stage["fn_constructor_kwargs"] == {"engine": plan().engine, "task": "the task"}
    assert stage["compute"].min_size == stage["compute"].max_size == 3
    assert stage["max_concurrency"] == engine_actor.ENGINE_TASKS_PER_ACTOR and stage["num_cpus"] == 1
    assert stage["batch_size"] == 16 and stage["batch_format"] == "pandas" and "num_gpus" not in stage
    on_gpus = engine_actor.engine_stage(plan(replace(IDENTITY, tensor_parallel_size=2), use_gpus=True))
    assert (on_gpus["num_gpus"], on_gpus["num_cpus"]) == (2, 1)
    # A replica whose process or node dies is restarted and gets its blocks again (docs/fault-tolerance.md).
    assert (stage["max_restarts"], stage["max_task_retries"]) == (-1, -1)


def test_a_range_of_replicas_is_a_pool_that_can_grow():
    """Ray Data grows a pool once its blocks in flight reach 1.75x its replicas' concurrency
    (DataContext.autoscaling_config): only a queue at each replica gets there."""
    fixed = engine_actor.engine_stage(plan(replicas=2))["compute"]
    growing = engine_actor.engine_stage(plan(replicas=1, max_replicas=8))["compute"]
    assert (growing.min_size, growing.max_size) == (1, 8)
    threshold = ray.data.DataContext.get_current().autoscaling_config.actor_pool_util_upscaling_threshold
    concurrency = engine_actor.ENGINE_TASKS_PER_ACTOR
    assert growing.max_tasks_in_flight_per_actor / concurrency >= threshold > fixed.max_tasks_in_flight_per_actor / concurrency


class StandIn:
    """Answers only what the factory asks of an engine: its identity."""

    def __init__(self, *, engine: EngineSettings, task):
        self.settings = engine

    def identity(self) -> EngineIdentity:
        return self.settings.identity


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(engine_actor, "K2Engine", StandIn)
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    engine_actor.release_warm_engine()
    ray.shutdown()


def alive(handle) -> bool:
    try:
        ray.get(handle.identity.remote(), timeout=30)
        return True
    except ray.exceptions.RayActorError:
        return False


def test_the_warm_engine_is_kept_for_its_identity_and_released_by_a_run(stand_in):
    first = engine_actor.warm_engine(plan())
    assert ray.get(first.identity.remote()) == IDENTITY
    again = engine_actor.warm_engine(plan(replicas=1))  # another job, the same engine
    assert again._actor_id == first._actor_id and engine_actor._session["engine"] is first
    other = engine_actor.warm_engine(plan(replace(IDENTITY, max_model_len=1024)))
    assert other._actor_id != first._actor_id and not alive(first), "another identity replaces the engine"
    assert ray.get_actor(engine_actor.WARM_ENGINE)._actor_id == other._actor_id
    engine_actor.release_warm_engine()
    assert engine_actor._session["engine"] is None and not alive(other)
    engine_actor.release_warm_engine()  # none running: nothing to do


def test_a_standalone_engine_is_unnamed(stand_in):
    engine = engine_actor.engine_actor(plan())
    assert ray.get(engine.identity.remote()) == IDENTITY
    with pytest.raises(ValueError):
        ray.get_actor(engine_actor.WARM_ENGINE)


def test_without_ray_there_is_no_warm_engine_to_release():
    assert not ray.is_initialized()
    engine_actor.release_warm_engine()
    assert not ray.is_initialized()
