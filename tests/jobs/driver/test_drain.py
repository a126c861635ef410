"""The drain's decisions and its signal handling, in this process (the real SIGTERM to a
submitted job's driver is in tests/jobs/cluster/test_cluster_shape.py): the first signal
begins a drain that ends when the units in flight then are committed or the time is up,
a second one stops at once but never inside a unit's commit."""

import os
import signal

import pytest

from jobs.driver.drain import Drain, RunStopped, committing


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_signal_no_drain():
    drain = Drain(60)
    drain.check({"a"}, set(), units_left=3)  # nothing happens


def test_the_drain_ends_once_the_units_in_flight_then_are_committed():
    clock = Clock()
    drain = Drain(60, clock=clock)
    drain.signal, drain.deadline = "SIGTERM", 60.0
    drain.check({"a", "b"}, {"x"}, units_left=5)  # begins: a and b in flight
    clock.now = 10
    drain.check({"a", "b", "c"}, {"x", "a"}, units_left=4)  # c started after the signal: not waited for
    with pytest.raises(RunStopped) as stopped:
        drain.check({"c"}, {"x", "a", "b"}, units_left=3)
    assert str(stopped.value) == ("drained on SIGTERM (the units in flight committed): 3 unit(s) left uncommitted, "
                                  "their staged files removed; the committed units stay, and a run of the same spec "
                                  "does the rest")
    assert not stopped.value.at_once


def test_the_drain_ends_when_drain_timeout_s_runs_out():
    clock = Clock()
    drain = Drain(60, clock=clock)
    drain.signal, drain.deadline = "SIGINT", 60.0
    drain.check({"a"}, set(), units_left=2)
    clock.now = 59.9
    drain.check({"a"}, set(), units_left=2)
    clock.now = 60
    with pytest.raises(RunStopped, match=r"^drained on SIGINT \(model.drain_timeout_s \(60 s\) ran out\): 2 unit"):
        drain.check({"a"}, set(), units_left=2)


def test_signals_drain_then_stop_at_once_but_not_inside_a_commit():
    drain = Drain(60)
    before = signal.getsignal(signal.SIGTERM)
    with drain.handling(lambda: 7):
        os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, in this (the main) thread
        assert drain.signal == "SIGTERM" and drain.deadline is not None, "the first signal only starts a drain"
        committed = []
        with pytest.raises(RunStopped) as stopped:
            with committing():
                os.kill(os.getpid(), signal.SIGINT)
                committed.append("the unit's entry")  # the commit point is still reached
        assert committed == ["the unit's entry"]
        assert stopped.value.at_once
        assert str(stopped.value).startswith("stopped at once by a second signal (SIGINT): 7 unit(s) left uncommitted")
        with pytest.raises(RunStopped):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)  # let the handler run here
    assert signal.getsignal(signal.SIGTERM) is before, "the handlers are put back"
