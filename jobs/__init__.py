"""Job spec, the `k2batch` CLI, Ray submission and scheduling glue."""

__version__ = "0.1.0"
