"""The job spec: pydantic models (`models.py`), loaded from YAML (`load.py`) with run
parameters (`params.py`), or built in Python (`from jobs.spec import JobSpec`)."""

from jobs.spec.errors import JobSpecError
from jobs.spec.load import apply_override, load_job, parse_job
from jobs.spec.models import InputSpec, JobSpec, ModelSpec, OutputSpec, TaskSpec

__all__ = ["InputSpec", "JobSpec", "JobSpecError", "ModelSpec", "OutputSpec", "TaskSpec", "apply_override", "load_job",
           "parse_job"]
