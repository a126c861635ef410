"""Exit codes a scheduler can act on, and which errors map to them."""

OK = 0
SPEC_ERROR = 2  # fix the spec or its inputs; retrying will not help
REJECT_RATE_EXCEEDED = 3  # the job finished, but too many rows were rejected
INFRASTRUCTURE_ERROR = 4  # storage, Ray or the engine failed; a retry may succeed
