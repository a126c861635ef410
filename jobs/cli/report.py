"""Write the report of a finished job's output: one self-contained HTML page with its plots."""

import yaml

from jobs import exit_codes
from jobs.cli.errors import fail, fail_with


def add_arguments(parser) -> None:
    parser.add_argument("output_uri", metavar="OUTPUT_URI",
                        help="the job's output.uri (the folder holding summary.json): local path or fsspec URL")
    parser.add_argument("--out", default=None,
                        help="where to write the page (local path or URL); default: report.html next to summary.json")
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[], metavar="KEY=VALUE",
                        help="an fsspec storage option of OUTPUT_URI, as in output.storage_options, e.g. "
                             "--storage-option endpoint_url=http://127.0.0.1:9000 (credentials: prefer the "
                             "AWS environment variables)")


def storage_options(pairs: list[str]) -> dict:
    """KEY=VALUE pairs, each value read as YAML (so `true` and numbers keep their type)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--storage-option: expected KEY=VALUE, got {pair!r}")
        options[key] = yaml.safe_load(value) if value else ""
    return options


def run(args) -> int:
    from jobs.report import ReportError, write_report
    from jobs.storage.filesystem import filesystem_for
    from jobs.storage.output_store import OutputStore

    try:
        options = storage_options(args.storage_options)
    except ValueError as err:
        return fail(str(err), exit_codes.SPEC_ERROR)
    try:
        store = OutputStore(*filesystem_for(args.output_uri, options))
        where = write_report(store, out=args.out, out_options=options if args.out and "://" in args.out else {})
    except ReportError as err:
        return fail(str(err), exit_codes.SPEC_ERROR)
    except Exception as err:
        return fail_with(err)
    print(f"k2batch: report written to {where}")
    return exit_codes.OK
