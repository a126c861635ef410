"""A quiet run's capture takes what a logger's own stream handler writes, as in a
notebook, where the cell's stream is not a file descriptor: Ray Data's console handler
keeps the stream it was made with (at `import ray.data`)."""

import io
import logging
import sys

from jobs.watch.log_capture import quiet_logging


def test_a_handler_bound_to_the_cells_stream_writes_to_the_log_while_captured(tmp_path, monkeypatch):
    cell = io.StringIO()
    monkeypatch.setattr(sys, "stderr", cell)
    logger = logging.getLogger("k2batch-test.bound")
    handler = logging.StreamHandler(cell)  # bound at creation, as Ray Data's is
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with quiet_logging() as quiet:
            with quiet.capture(tmp_path / "k2batch.log"):
                logger.warning("Starting execution of Dataset")
        logger.warning("after the run")
    finally:
        logger.removeHandler(handler)
    assert "Starting execution of Dataset" in (tmp_path / "k2batch.log").read_text()
    assert cell.getvalue() == "after the run\n", "nothing of the run in the cell; the handler is given back"
