"""The engine stage's depth: Ray Data feeds an async UDF `max_batches_in_flight` batches
of one block at once (pipelines/extract.py async_batches_per_block), not its own default
of 4. A stand-in for K2Engine holds every batch until `expected` batches have arrived
together, so the count it reports is how many Ray Data let in at once."""

import asyncio

import pytest
import ray

from pipelines.extract import ENGINE_TASKS_PER_ACTOR, async_batches_per_block

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


@pytest.mark.parametrize("in_flight", [3, 8])
def test_max_batches_in_flight_batches_of_one_block_reach_the_udf_together(local_ray, in_flight):
    async_batches_per_block(in_flight)
    one_block = ray.data.range(BATCH * 12, override_num_blocks=1)
    out = one_block.map_batches(
        HoldsBatchesUntilAllArrive, fn_constructor_kwargs={"expected": in_flight}, batch_size=BATCH,
        compute=ray.data.ActorPoolStrategy(size=1, max_tasks_in_flight_per_actor=ENGINE_TASKS_PER_ACTOR),
        max_concurrency=ENGINE_TASKS_PER_ACTOR,
    ).take_all()
    assert len(out) == BATCH * 12
    assert max(r["together"] for r in out) == in_flight
