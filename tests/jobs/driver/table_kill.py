"""`python -m tests.jobs.driver.table_kill N ARGS`: `k2batch ARGS` whose driver SIGKILLs
itself right after the Nth unit's table commits, before that unit's manifest entry is
written: the moment a crash leaves a table ahead of the manifest. The table output's
commit step (jobs/storage/tables/__init__.py TableOutput.apply) is wrapped here, in the
test, as wedged_engine.py injects a stand-in engine; the product has no such hook."""

import os
import signal
import sys

if __name__ == "__main__":
    from jobs.cli import main
    from jobs.storage.tables import TableOutput

    kill_after = int(sys.argv.pop(1))
    commit = TableOutput.apply
    done = []

    def apply_then_die(self, unit, added, removed, kinds):
        commit(self, unit, added, removed, kinds)
        done.append(unit.key)
        if len(done) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    TableOutput.apply = apply_then_die
    sys.exit(main())
