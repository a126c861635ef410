"""A lost node does not end the run: what Ray does, and what k2batch adds.

Ray (pipelines/engine_actor.py engine_stage): a replica on a lost node is restarted on
any node with room (`max_restarts=-1`) and gets the blocks it held again
(`max_task_retries=-1`); read and write tasks that ran there are retried, and blocks
lost with the node's object store are rebuilt from their lineage. The run then goes on
in the same pass, and only what was in flight there is redone.

What Ray does not do, k2batch does here, with its own unit bookkeeping (the committer
knows which units are committed; those never run again):
- a lost replica's blocks go to that replica only; with no room for it anywhere, they
  would wait for ever beside idle replicas. Once they are all that is left
  (jobs/watch/node_watch.py stuck_on_lost_replicas), the pass is stopped and the
  uncommitted units run in a new pass over the replicas that remain;
- a pass that fails with any other error after a node loss (Ray gave up on a block)
  is followed by a new pass over the uncommitted units, once per lost node.
A new pass starts its engines again: that is its cost. With no replica left and no
room for one, the stall guard waits `model.engine_start_timeout_s` for a node with room,
then names the lost node (exit 4).
"""

import logging
import time
from typing import Callable

from jobs.driver.commit import ConservationError, UnitCommitter
from jobs.driver.drain import RunStopped
from jobs.plan.input_units import Unit
from jobs.watch.node_watch import LostNode, stuck_on_lost_replicas
from jobs.watch.run_watch import RunWatch
from jobs.watch.stall_guard import StallError

log = logging.getLogger("k2batch")
# Errors that say nothing about a lost node: a pass after them would fail alike.
OURS = (StallError, RunStopped, ConservationError)


class StuckOnLostReplica(RuntimeError):
    """The units left wait on replicas of a lost node that cannot come back."""

    def __init__(self, loss: LostNode):
        super().__init__(f"the units left wait on replicas of lost node {loss.name()}")
        self.loss = loss


def run_passes(run_pass: Callable[[list[Unit]], None], committer: UnitCommitter, watch: RunWatch, *,
               clock: Callable[[], float] = time.time) -> None:
    """`run_pass(units)` over the units to run; after a node loss, again over the units
    still uncommitted if a pass cannot finish (see the module's doc): at most once per
    node lost during the pass."""
    units = committer.uncommitted()
    while True:
        lost_before, began = len(watch.losses), clock()

        def stuck() -> None:  # a tick of the run's loop (RunWatch.ticks)
            lost = watch.nodes.lost if watch.nodes else []
            if lost and stuck_on_lost_replicas(watch.guard.snapshot, lost, now=clock(), since=began):
                raise StuckOnLostReplica(lost[-1])

        watch.ticks.append(stuck)
        try:
            run_pass(units)
            return
        except OURS:
            raise
        except Exception as err:
            watch.poll_nodes(now=True)  # the error may come before the loss's poll
            if len(watch.losses) == lost_before:
                raise
            units = committer.uncommitted()
            keys = [unit.key for unit in units]
            watch.board.new_pass.remote()
            watch.rerun(committer.forget(keys), keys, err.loss if isinstance(err, StuckOnLostReplica) else None)
            why = str(err) if isinstance(err, StuckOnLostReplica) else \
                f"the pass failed after a node loss ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            log.warning("%s: running the %d uncommitted unit(s) again in a new pass; committed units stay", why,
                        len(units))
        finally:
            watch.ticks.remove(stuck)
