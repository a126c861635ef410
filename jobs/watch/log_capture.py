"""A quiet run: everything the driver process and the processes it starts write to stdout
or stderr goes to the run's log file instead of the terminal, so that the terminal
holds only k2batch's own lines (start, progress, problems, summary).

What reaches the file: vLLM's and Ray's loggers, the worker output Ray forwards to the
driver (every engine actor's vLLM log), Ray Data's execution log, C++ log lines of
Ray's core worker, Python warnings. Redirecting the file descriptors catches what
Python's logging cannot see (C++ and child processes); swapping `sys.stdout` and
`sys.stderr` catches Python writers that do not write to those descriptors (a Jupyter
kernel's streams). `logging` records of k2batch at WARNING and above still reach the
terminal: they say something about the job.

Why not Ray's and vLLM's own settings: `ray.init(log_to_driver=False)` would leave the
engines' logs in Ray's session folder on each node instead of the run's log beside its
output, and `ray.LoggingConfig` and vLLM's `VLLM_LOGGING_CONFIG_PATH` shape Python
logging records only, not the C++ lines of Ray's core worker, torch's and Triton's
prints, or what child processes write to the inherited descriptors.
"""

import io
import logging
import logging.handlers
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TextIO

LOG_FORMAT = "%(asctime)s k2batch %(levelname)s %(message)s"


class _JobWarnings(logging.Handler):
    """k2batch's warnings and errors, one line each, on the terminal."""

    def __init__(self, stream: TextIO):
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "k2batch" or record.name.startswith("k2batch."):
            print(f"k2batch: {record.levelname.lower()}: {record.getMessage()}", file=self.stream, flush=True)


class _Buffered(logging.handlers.MemoryHandler):
    """Holds the records logged before the log file is open (resolving, preparing the output)."""

    def __init__(self):
        super().__init__(capacity=100_000, flushLevel=logging.CRITICAL + 1)

    def shouldFlush(self, record) -> bool:
        return self.target is not None or len(self.buffer) >= self.capacity


@contextmanager
def quiet_logging() -> Iterator["QuietRun"]:
    """For the whole run: the root logger's terminal handlers give way to a buffer that
    the log file takes over once it is open (`QuietRun.capture`), and k2batch's
    warnings go to the terminal."""
    root = logging.getLogger()
    streams = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}
    terminal_handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                         and not isinstance(h, logging.FileHandler) and id(h.stream) in streams]
    level = root.level
    buffer = _Buffered()
    buffer.setFormatter(logging.Formatter(LOG_FORMAT))
    terminal = _terminal_stream(sys.stderr)
    warnings = _JobWarnings(terminal)
    for handler in terminal_handlers:
        root.removeHandler(handler)
    root.addHandler(buffer)
    root.addHandler(warnings)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    try:
        yield QuietRun(buffer, terminal)
    finally:
        root.removeHandler(buffer)
        root.removeHandler(warnings)
        buffer.close()
        for handler in terminal_handlers:
            root.addHandler(handler)
        root.setLevel(level)
        if terminal not in (sys.stderr, sys.__stderr__):
            terminal.close()


class QuietRun:
    def __init__(self, buffer: _Buffered, terminal: TextIO):
        self.buffer = buffer
        self.terminal = terminal  # k2batch's own lines go here

    @contextmanager
    def capture(self, log_file: Path) -> Iterator[None]:
        """Within the block, stdout and stderr (descriptors and Python streams) go to
        `log_file`, and so do the buffered and later log records."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        log = open(log_file, "a", buffering=1, encoding="utf-8", errors="replace")
        file_handler = logging.StreamHandler(log)
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self.buffer.setTarget(file_handler)
        self.buffer.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        streams = sys.stdout, sys.stderr
        # Handlers that keep the stream they were made with (Ray Data's console handler,
        # made at `import ray.data`: in a notebook, the cell's stream, not a descriptor).
        moved = [(handler, handler.setStream(log)) for handler in _handlers_writing_to(streams)]
        colour = os.environ.get("RAY_COLOR_PREFIX")
        os.environ["RAY_COLOR_PREFIX"] = "0"  # Ray colours the worker prefixes it prints unless told not to
        for fd in saved:
            os.dup2(log.fileno(), fd)
        sys.stdout = sys.stderr = log
        try:
            yield
        finally:
            log.flush()
            for handler, stream in moved:
                if stream is not None:
                    handler.setStream(stream)
            sys.stdout, sys.stderr = streams
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            if colour is None:
                os.environ.pop("RAY_COLOR_PREFIX", None)
            else:
                os.environ["RAY_COLOR_PREFIX"] = colour
            self.buffer.setTarget(None)
            file_handler.close()
            log.close()


def _handlers_writing_to(streams: tuple[TextIO, ...]) -> list[logging.StreamHandler]:
    """Every logger's stream handlers bound to one of `streams` (or to the process's own
    stdout or stderr); not those that look up sys.stderr as they write."""
    targets = {id(s) for s in (*streams, sys.__stdout__, sys.__stderr__)}
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    return [h for lg in loggers for h in lg.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            and not isinstance(getattr(type(h), "stream", None), property) and id(h.stream) in targets]


def _terminal_stream(stream: TextIO) -> TextIO:
    """A stream to the terminal that stays one when descriptors 1 and 2 are redirected: a
    copy of the descriptor for a process's own stderr, the stream itself for a
    notebook's (which does not write to a descriptor)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return stream
    if fd not in (1, 2):
        return stream
    stream.flush()
    return open(os.dup(fd), "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace")
