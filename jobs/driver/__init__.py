"""The run's driver: the Ray session, the flow's stream, unit commits and the summary."""
