"""Running a job on a Ray cluster: submission, its runtime environment, its job client."""
