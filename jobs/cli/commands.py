"""One module per `k2batch` subcommand; each has `add_arguments(parser)` and `run(args)`."""

from jobs.cli import eval as eval_command  # `eval` would shadow the builtin here
from jobs.cli import estimate, logs, report, review, run, status, submit, testmodel, validate

COMMANDS = {"run": run, "validate": validate, "testmodel": testmodel, "eval": eval_command,
            "submit": submit, "status": status, "logs": logs, "report": report,
            "estimate": estimate, "review": review}
