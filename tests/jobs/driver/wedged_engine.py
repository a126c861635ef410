"""`python -m tests.jobs.driver.wedged_engine ARGS`: `k2batch ARGS` whose engine actors
are wedged: each loads the model and takes its rows as K2Engine does, and no generation
ever returns. The stall guard's test (test_operator_view.py) runs a job with it, the
stand-in injected through the one engine-actor factory (pipelines/engine_actor.py)."""

import asyncio
import sys

from operators.k2_engine import K2Engine


class WedgedK2Engine(K2Engine):  # named so that Ray's actor table still shows a K2Engine (jobs/watch/placement.py)
    async def _generate(self, prompt_ids, params):
        await asyncio.Event().wait()  # never set


if __name__ == "__main__":
    from jobs.cli import main
    from pipelines import engine_actor

    engine_actor.K2Engine = WedgedK2Engine
    sys.exit(main())
