"""`k2batch estimate`: answer a random sample of the input's rows with the job's own
prepare stage and engine (one replica, the job's rows in flight), write nothing under
output.uri, and project the whole input (jobs/driver/projection.py).

The sample is sent to the engine as a run sends it: tasks of a run's size (`block_rows`),
two at a time per replica
(pipelines/engine_actor.py ENGINE_TASKS_PER_ACTOR), so the rows/s measured is a run's.
"""

import random
import time
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import ray

from jobs.watch.log_capture import quiet_logging
from jobs.driver.projection import Estimate, SampleAnswers, project
from jobs.driver.ray_session import warn_if_no_node_fits, connect_ray, disconnect_ray, session_uses_gpus
from jobs.plan.settings_from_spec import flow_plan, read_settings
from jobs.plan.resolve import ResolvedJob, resolve_job
from jobs.spec import JobSpec
from pipelines.engine_actor import ENGINE_TASKS_PER_ACTOR, engine_actor, release_warm_engine
from pipelines.registry import MODES
from pipelines.stages import unit_reader

DEFAULT_SAMPLE = 64


def estimate_job(spec: JobSpec, *, sample: int = DEFAULT_SAMPLE, seed: int = 0, log_file: Path | None = None) -> Estimate:
    """The projections for the whole input, from `sample` random rows (all rows if fewer).
    `log_file`: the engine's and Ray's logs go there, not to the terminal (jobs/watch/log_capture.py).
    A warm preview engine of this session is stopped first: the sample's engine needs its cores or GPUs."""
    if sample < 1:
        raise ValueError(f"--sample must be at least 1, got {sample}")
    with ExitStack() as stack:
        if log_file is not None:
            stack.enter_context(stack.enter_context(quiet_logging()).capture(log_file))
        resolved = resolve_job(spec)
        rows = sample_rows(resolved, min(sample, resolved.input_rows), seed)
        started_ray = connect_ray(spec)
        try:
            release_warm_engine()
            warn_if_no_node_fits(spec)
            answers = _answer_sample(resolved, rows)
        finally:
            if started_ray:
                disconnect_ray()
    m = spec.model
    # A range of replicas is projected at its min: the replicas a run is sure to get.
    result = project(answers, input_rows=resolved.input_rows, replicas=m.replica_range[0],
                     tensor_parallel_size=m.tensor_parallel_size)
    return Estimate(**dict(result), name=spec.name, rows_in_flight=rows_in_flight(spec), seed=seed,
                    fingerprints=resolved.fingerprints)


def block_rows(spec: JobSpec) -> int:
    """The rows one engine task of a run holds at once: Ray Data bundles unit blocks
    smaller than `batch_size` into one task of about `batch_size` rows, and a task's
    batches go to the engine `max_batches_in_flight` at a time."""
    m = spec.model
    return min(max(spec.output.unit_rows, m.batch_size), m.batch_size * m.max_batches_in_flight)


def rows_in_flight(spec: JobSpec) -> int:
    return ENGINE_TASKS_PER_ACTOR * block_rows(spec)


def sample_rows(resolved: ResolvedJob, n: int, seed: int) -> pd.DataFrame:
    """`n` rows drawn uniformly without replacement, in random order, read unit by unit as a run reads them."""
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(resolved.input_rows), n))
    frames, offset, i = [], 0, 0
    files_before: dict[str, int] = {}
    for file in resolved.files:
        files_before[file.path] = offset
        offset += file.rows
    read_unit = unit_reader(read_settings(resolved, resolved.units))
    for unit in resolved.units:
        first = files_before[unit.path] + unit.start
        local = []
        while i < len(picked) and picked[i] < first + unit.rows:
            local.append(picked[i] - first)
            i += 1
        if local:
            frames.append(read_unit(unit.read()).take(local).to_pandas())
    rows = pd.concat(frames, ignore_index=True)
    return rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _answer_sample(resolved: ResolvedJob, rows: pd.DataFrame) -> SampleAnswers:
    spec = resolved.spec
    plan = flow_plan(resolved, units=resolved.units[:1], use_gpus=session_uses_gpus(spec))
    prepared = MODES[plan.mode].prepare(plan)(rows)
    started = time.monotonic()
    engine = engine_actor(plan)
    try:
        ray.get(engine.identity.remote())  # returns once the engine has loaded the model
        engine_start = time.monotonic() - started
        size = block_rows(spec)
        answered = pd.concat(ray.get([engine.answer.remote(prepared.iloc[i:i + size]) for i in range(0, len(prepared), size)]))
    finally:
        ray.kill(engine)
    return SampleAnswers(
        prompt_tokens=answered["_prompt_tokens"].astype(int).tolist(),
        completion_tokens=answered["_completion_tokens"].astype(int).tolist(),
        attempts=answered["_attempts"].astype(int).tolist(),
        reasons=[r if isinstance(r, str) else None for r in answered["_reason"]],
        # busy time as summary.json's engine_seconds counts it (jobs/driver/commit.py)
        engine_seconds=float(answered["_engine_end"].max() - answered["_engine_start"].min()), engine_start_seconds=engine_start,
    )

