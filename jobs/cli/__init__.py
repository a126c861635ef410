"""The `k2batch` command: one module per subcommand (jobs/cli/commands.py), dispatched
through a table; `python -m jobs.cli` runs it too (jobs/cli/__main__.py)."""

import argparse
import logging
import os
import sys

from jobs.cli.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k2batch", description="Batch jobs with LLM360 K2-Chat on Ray Data and vLLM.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.__doc__.strip().splitlines()[0]))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s k2batch %(levelname)s %(message)s", stream=sys.stderr)
    if os.environ.get("K2BATCH_LOG_LEVEL", "").lower() == "debug":
        logging.getLogger("k2batch").setLevel(logging.DEBUG)
    return COMMANDS[args.command].run(args)
