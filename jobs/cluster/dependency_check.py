"""`python -m jobs.cluster.dependency_check`: the first step of a submitted job
(jobs/cluster/submission.py `entrypoint`). It finds out whether the cluster's `python`
has k2batch's dependencies, before anything imports one.

A cluster whose `python` is not k2batch's environment (a head started with
`.venv/bin/ray start` from outside the activated venv, an image without the
dependencies) would otherwise end the job with a `ModuleNotFoundError` traceback and
exit code 4, which reads as an infrastructure failure and says nothing about the fix.
Instead: one line naming the interpreter, the missing packages and the three fixes, and
exit code 2 (a retry fails the same way).

Standard library only, for the same reason: the dependencies are what may be missing.
The list is pyproject.toml's, which travels with the job's working_dir.
"""

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from jobs import exit_codes

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PIP_AT_MOST = 3


def requirement_name(requirement: str) -> str:
    """The distribution a requirement names: `ray[data,default]==2.60.0` -> `ray`."""
    return re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip()).group(0)


def missing_dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The requirements of pyproject.toml's `dependencies` no installed distribution meets
    by name (as written there, so that each can be passed to `--pip` as it is)."""
    requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    missing = []
    for requirement in requirements:
        try:
            metadata.distribution(requirement_name(requirement))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def problem(missing: list[str]) -> str:
    """The one line for `missing` requirements."""
    names = ", ".join(requirement_name(r) for r in missing)
    # A few missing packages: the flags to add. Many: the environment is not k2batch's at all.
    pip = " ".join(f"--pip '{r}'" for r in missing) if len(missing) <= PIP_AT_MOST else "--pip for each of them"
    version = ".".join(map(str, sys.version_info[:3]))
    return (f"the cluster's python ({sys.executable}, Python {version}) cannot import {names}, which k2batch needs: "
            f"submit with {pip}, or run Ray from an image with k2batch's dependencies (pip install -e \".[gpu]\" or "
            "\".[cpu]\"), or start Ray (`ray start`) from k2batch's environment")


def main() -> int:
    missing = missing_dependencies()
    if not missing:
        return exit_codes.OK
    print(f"k2batch: error: {problem(missing)}", file=sys.stderr, flush=True)
    return exit_codes.SPEC_ERROR


if __name__ == "__main__":
    sys.exit(main())
