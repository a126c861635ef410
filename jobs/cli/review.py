"""Write a finished output's review queue: the least confident records, as Parquet and as a Label Studio import."""

from jobs import exit_codes
from jobs.cli.errors import fail, fail_with
from jobs.cli.report import storage_options

REVIEW_FOLDER = "_review"  # under the output, by default


def add_arguments(parser) -> None:
    parser.add_argument("output_uri", metavar="OUTPUT_URI",
                        help="the job's output.uri (the folder holding summary.json): local path or fsspec URL")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--n", type=int, default=None, metavar="N", help="the N least confident records")
    which.add_argument("--below", type=float, default=None, metavar="P",
                       help="every record whose _confidence is below P (default: the job's task.review_below)")
    parser.add_argument("--rejects", action="store_true", help="put the rejects first in the queue (they have no answer)")
    parser.add_argument("--input", default=None, metavar="URI",
                        help="where the input rows are, if not at summary.json's input_uri (same storage options)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help=f"where to write review.parquet, label-studio-tasks.json and label-studio-config.xml "
                             f"(default: {REVIEW_FOLDER}/ under OUTPUT_URI)")
    parser.add_argument("--storage-option", dest="storage_options", action="append", default=[], metavar="KEY=VALUE",
                        help="an fsspec storage option of OUTPUT_URI (and of --out under it), as in output.storage_options")


def run(args) -> int:
    from jobs.review import ReviewError, review_queue, write_review

    if args.n is not None and args.n < 1:
        return fail(f"--n must be at least 1, got {args.n}", exit_codes.SPEC_ERROR)
    if args.below is not None and not 0 <= args.below <= 1:
        return fail(f"--below must be in [0, 1], got {args.below}", exit_codes.SPEC_ERROR)
    try:
        options = storage_options(args.storage_options)
        queue = review_queue(args.output_uri, n=args.n, below=args.below, rejects=args.rejects, storage_options=options,
                             input_uri=args.input)
        folder = args.out or f"{args.output_uri.rstrip('/')}/{REVIEW_FOLDER}"
        written = write_review(queue, folder, options if args.out is None or "://" in folder else {})
    except (ReviewError, ValueError) as err:
        return fail(str(err), exit_codes.SPEC_ERROR)
    except Exception as err:
        return fail_with(err)
    print(f"k2batch: {written.rows} row(s) to review, least confident first: " + ", ".join(written.names()))
    return exit_codes.OK
