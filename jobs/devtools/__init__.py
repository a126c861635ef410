"""Tools for developing and judging jobs: scoring against a gold sample, the tiny test model and its training."""
