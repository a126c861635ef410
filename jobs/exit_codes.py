"""Exit codes a scheduler can act on, and which errors map to them.

`k2batch run`, `validate`, `submit --wait` and `status` (of a finished job) use them;
jobs/cli/errors.py decides which exception is which.
"""

OK = 0
SPEC_ERROR = 2  # the spec, its parameters or its inputs are wrong; retrying will not help
REJECT_RATE_EXCEEDED = 3  # the job finished and wrote its results, but too many rows were rejects
INFRASTRUCTURE_ERROR = 4  # storage, Ray, the cluster or the engine failed; a retry may succeed

# The codes a submitted job's entrypoint exits with that `submit --wait` passes on.
JOB_CODES = (SPEC_ERROR, REJECT_RATE_EXCEEDED, INFRASTRUCTURE_ERROR)
