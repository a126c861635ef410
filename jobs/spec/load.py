"""Reading a spec: YAML text, `--set` overrides, `--param` values, then validation."""

import sys
from pathlib import Path

import yaml

from jobs.spec.models import JobSpec
from jobs.spec.params import fill_params


def load_job(path: str | Path, overrides: list[str] = (), params: dict[str, str] | None = None) -> JobSpec:
    """Read a YAML spec (`-`: from stdin), apply `key.path=value` overrides, fill run
    parameters into the URIs, and validate the whole."""
    text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
    return parse_job(text, overrides, params, source=str(path))


def parse_job(text: str, overrides: list[str] = (), params: dict[str, str] | None = None, source: str = "spec") -> JobSpec:
    """`load_job` for a spec already read, e.g. the text `k2batch submit` sends along."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a job spec is a YAML mapping")
    for override in overrides:
        apply_override(data, override)
    fill_params(data, params or {})
    return JobSpec.model_validate(data)


def apply_override(data: dict, override: str) -> None:
    """`model.tensor_parallel_size=2` sets a nested key; the value is parsed as YAML."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ValueError(f"--set {override!r}: expected key.path=value")
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"--set {override!r}: {part} is not a section")
    node[leaf] = yaml.safe_load(raw)
