"""`python -m jobs.cli ...`: what a submitted job's entrypoint runs (jobs/cluster/submission.py)."""

import sys

from jobs.cli import main

sys.exit(main())
