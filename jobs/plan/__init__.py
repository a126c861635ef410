"""From a spec to a run's plan: resolve and check it (`resolve.py`), its input units,
its decoding constraint, its fingerprints, and the typed plan the pipelines run."""
