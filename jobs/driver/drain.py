"""Preemption with notice: SIGTERM or SIGINT to the driver (a scheduler, a node drain,
`ray job stop`) drains the run instead of ending it wherever it is.

The first signal: no new unit starts (the engines' board says so to the read stage,
operators/drain_gate.py), the units in flight (rows taken by an engine, or written) get
`model.drain_timeout_s` to finish and commit, then the run stops with exit 4 and one
line naming how many units are left; the driver removes what it staged and did not
commit. If every unit commits in time, the run simply finishes. A second signal stops
the run at once, though never inside a unit's commit (`committing`): its files and its
manifest entry are published together or the unit stays unlisted (the commit protocol,
jobs/storage/output_store.py), and the next run removes an unlisted unit's files.

Handlers are installed only while a run's flow runs in the main thread (Python runs
signal handlers there); the handlers that were there before (Ray's, Python's) are put
back after.
"""

import logging
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

log = logging.getLogger("k2batch")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_commits = {"open": 0, "stop": None}  # a unit's commit in progress, and a stop that waits for it


class RunStopped(RuntimeError):
    """The run stopped on a signal: the committed units stay, the rest is left for a
    re-run of the same spec (exit 4). `at_once`: a second signal's, which leaves staged
    files to the next run (they are never listed)."""

    def __init__(self, message: str, *, at_once: bool = False):
        super().__init__(message)
        self.at_once = at_once


@contextmanager
def committing() -> Iterator[None]:
    """A unit's commit: a second signal that arrives meanwhile stops the run right after it."""
    _commits["open"] += 1
    try:
        yield
    finally:
        _commits["open"] -= 1
    if not _commits["open"] and _commits["stop"] is not None:
        stop, _commits["stop"] = _commits["stop"], None
        raise stop


class Drain:
    def __init__(self, timeout_s: float, *, clock=time.monotonic):
        self.timeout_s = timeout_s
        self.clock = clock
        self.signal: str | None = None  # the first signal's name, once one came
        self.deadline: float | None = None
        self.waiting: set[str] | None = None  # the units in flight when the drain began
        self.left = lambda: 0  # units not committed, for the second signal's line (set by `handling`)

    @contextmanager
    def handling(self, units_left) -> Iterator[None]:
        """SIGTERM and SIGINT drain the run within this block. `units_left()`: how many of
        the run's units are not committed."""
        if threading.current_thread() is not threading.main_thread():
            yield  # a run in a thread of its own (a notebook's): signals are not its to handle
            return
        self.left = units_left
        before = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self._received)
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def _received(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.signal is None:
            self.signal, self.deadline = name, self.clock() + self.timeout_s
            return  # the run's loop begins the drain within a second (`check`)
        stop = RunStopped(f"stopped at once by a second signal ({name}): {self.left()} unit(s) left uncommitted; "
                          "the committed units stay, and a run of the same spec does the rest", at_once=True)
        if _commits["open"]:
            _commits["stop"] = stop
            return
        raise stop

    def check(self, in_flight: set[str], committed: set[str], *, units_left: int, board=None) -> None:
        """Called by the run's loop (every report, commit and idle second): begins the
        drain after a signal, and stops the run once the units that were in flight then
        are committed, or `drain_timeout_s` is over."""
        if self.signal is None:
            return
        if self.waiting is None:
            self.waiting = in_flight - committed
            if board is not None:
                board.drain.remote()
            log.warning("%s: draining: no new unit starts; %d unit(s) in flight have up to %g s to commit "
                        "(model.drain_timeout_s); a second signal stops at once", self.signal, len(self.waiting),
                        self.timeout_s)
        done = self.waiting <= committed
        if done or self.clock() >= self.deadline:
            raise self.stopped(units_left, in_time=done)

    def stopped(self, units_left: int, *, in_time: bool = True) -> RunStopped:
        """The drain's end: `in_time`, every unit in flight committed before the deadline."""
        how = "the units in flight committed" if in_time else f"model.drain_timeout_s ({self.timeout_s:g} s) ran out"
        return RunStopped(f"drained on {self.signal} ({how}): {units_left} unit(s) left uncommitted, their staged "
                          "files removed; the committed units stay, and a run of the same spec does the rest")


def drain_check(drain: Drain, watch, committer) -> Callable[[], None]:
    """The drain's tick of the run's loop (jobs/watch/run_watch.py RunWatch.ticks): the
    units in flight are those an engine took rows of (the engines' board) or that have
    written files (the committer)."""
    def check() -> None:
        if drain.signal is None:
            return
        taken = watch.guard.poll(wait=drain.waiting is None).first_taken_at
        drain.check(set(taken) | set(committer.progress), set(committer.committed),
                    units_left=len(committer.uncommitted()), board=watch.board)
    return check
