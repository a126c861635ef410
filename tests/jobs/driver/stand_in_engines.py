"""`python -m tests.jobs.driver.stand_in_engines NAME ARGS`: `k2batch ARGS` whose engine
actors are the stand-in NAME, put in place through the one engine-actor factory
(pipelines/engine_actor.py), as wedged_engine.py does. The stall tests
(test_stalls.py) run jobs with them; nothing in the product knows of them.

- `never_ready`: tells the run's board it is starting, and never finishes: a weights
  download or a model load that hangs.
- `ready_without_model`: up at once, without loading a model: an engine waiting for rows
  that never come (the test's input hangs). A row that does come fails the run.
"""

import sys
import threading

from operators.engine_progress import EngineReporter
from operators.k2_engine import K2Engine


class NeverReadyK2Engine(K2Engine):  # a K2Engine by name, as Ray's actor table shows it (jobs/watch/placement.py)
    def __init__(self, *, engine, task):
        self.progress = EngineReporter()
        self.progress.starting()
        threading.Event().wait()  # never set


class ReadyWithoutModelK2Engine(K2Engine):
    def __init__(self, *, engine, task):
        self.progress = EngineReporter()
        self.progress.starting()
        self.progress.ready()

    async def __call__(self, batch):
        raise RuntimeError(f"the stand-in engine without a model was given {len(batch)} row(s)")


STAND_INS = {"never_ready": NeverReadyK2Engine, "ready_without_model": ReadyWithoutModelK2Engine}

if __name__ == "__main__":
    from jobs.cli import main
    from pipelines import engine_actor

    engine_actor.K2Engine = STAND_INS[sys.argv.pop(1)]
    sys.exit(main())
