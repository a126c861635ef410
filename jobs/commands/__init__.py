"""One module per `k2batch` subcommand; each has `add_arguments(parser)` and `run(args)`."""

from jobs.commands import run, testmodel, validate

COMMANDS = {"run": run, "validate": validate, "testmodel": testmodel}
