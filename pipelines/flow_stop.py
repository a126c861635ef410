"""Stopping a flow whose consumer leaves it before its end (a drained run, a pass stopped
after a lost node, a stall, an error): its engines, reads and writes stop, and their
cores or GPUs are free for what comes next (a new pass, a notebook's next job).

Ray Data stops an execution itself only when its iterator is exhausted, raises, or is
garbage-collected; the driver's reader runs in a thread of its own
(jobs/watch/stall_guard.py), so the driver stops it through the executor that Ray Data
keeps on the dataset (`_current_executor`, Ray 2.60, which pyproject pins)."""


def stop_flow(dataset) -> None:
    """Stop `dataset`'s execution, if it runs (a finished one is stopped already)."""
    executor = getattr(dataset, "_current_executor", None)
    if executor is not None:
        executor.shutdown(force=True)
