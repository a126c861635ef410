"""Job spec, the `k2batch` CLI, Ray submission and scheduling glue."""

from importlib import metadata
from pathlib import Path


def _version() -> str:
    """pyproject.toml's version, written once: the installed package's metadata, or the
    source checkout's pyproject.toml when the code runs uninstalled (a submitted job's
    working_dir on a cluster image without k2batch)."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        return tomllib.loads(pyproject.read_text())["project"]["version"]
    return metadata.version("k2batch")


__version__ = _version()
