"""The engine stage's depth: within engine_stage_depth (pipelines/extract.py), which
jobs/driver/run.py holds around a job's iteration, Ray Data feeds an async UDF
`max_batches_in_flight` batches of one block at once, not its own default of 4; after
it, Ray's default holds again (a notebook's own async UDFs). A stand-in for K2Engine
holds every batch until `expected` batches have arrived together, so the count it
reports is how many Ray Data let in at once."""

import asyncio

import pytest
import ray

from pipelines.engine_actor import ENGINE_TASKS_PER_ACTOR
from pipelines.stages import engine_stage_depth

BATCH = 8


class HoldsBatchesUntilAllArrive:
    def __init__(self, expected: int):
        self.expected = expected
        self.holding = 0
        self.all_here = asyncio.Event()

    async def __call__(self, batch: dict) -> dict:
        self.holding += 1
        if self.holding == self.expected:
            self.all_here.set()
        try:  # never all here if Ray Data holds some back: then report how many came
            await asyncio.wait_for(self.all_here.wait(), timeout=10)
        except asyncio.TimeoutError:
            pass
        together = self.holding
        self.holding -= 1
        return {"together": [together] * len(batch["id"])}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def batches_together(expected: int) -> int:
    one_block = ray.data.range(BATCH * 12, override_num_blocks=1)
    out = one_block.map_batches(
        HoldsBatchesUntilAllArrive, fn_constructor_kwargs={"expected": expected}, batch_size=BATCH,
        compute=ray.data.ActorPoolStrategy(size=1, max_tasks_in_flight_per_actor=ENGINE_TASKS_PER_ACTOR),
        max_concurrency=ENGINE_TASKS_PER_ACTOR,
    ).take_all()
    assert len(out) == BATCH * 12
    return max(r["together"] for r in out)


@pytest.mark.parametrize("in_flight", [3, 8])
def test_max_batches_in_flight_batches_of_one_block_reach_the_udf_together(local_ray, in_flight):
    with engine_stage_depth(in_flight):
        assert batches_together(in_flight) == in_flight
    assert batches_together(4) == 4  # Ray's own default again, once the job is over
