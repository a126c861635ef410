"""Example record schemas used by the demo jobs and the tests."""
