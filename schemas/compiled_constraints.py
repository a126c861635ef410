"""The constraints this machine's xgrammar has compiled before. A run of a schema compiled
once (a scheduled job's next run, a resume, a retry of its rejects) skips the compile's
child process, whose import of xgrammar alone takes seconds. Only successes are kept, by
a hash of the constraint, the compile's options and xgrammar's version: a constraint
that failed is compiled, and refused, every time."""

import hashlib
import json
import logging
import os
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger("k2batch")

# How the engine compiles a constraint: vLLM's xgrammar backend with disable_any_whitespace
# (vllm/v1/structured_output/backend_xgrammar.py), so compact JSON.
COMPILE_OPTIONS = {"any_whitespace": False, "separators": (",", ":")}


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/k2batch/compiled-constraints (~/.cache when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "k2batch" / "compiled-constraints"


def compiled_before(constraint: dict) -> bool:
    return (cache_dir() / _key(constraint)).exists()


def remember_compiled(constraint: dict) -> None:
    """Note that `constraint` compiled; a cache that cannot be written costs only time."""
    try:
        folder = cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _key(constraint)).touch()
    except OSError as err:
        log.debug("the compiled constraint was not cached: %s", err)


def _key(constraint: dict) -> str:
    text = json.dumps([version("xgrammar"), COMPILE_OPTIONS, constraint], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
