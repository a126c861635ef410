"""Print a submitted job's logs, like `ray job logs`; --follow streams them until it ends."""

import sys

from jobs import exit_codes
from jobs.cli.submit import add_address_argument, fail_for_job


def add_arguments(parser) -> None:
    parser.add_argument("submission_id", help="the id `k2batch submit` printed")
    add_address_argument(parser)
    parser.add_argument("--follow", "-f", action="store_true", help="stream until the job ends, then exit with its code")


def run(args) -> int:
    from jobs.cluster.job_client import connect, wait_for
    from jobs.cluster.submission import job_server_address

    address = job_server_address(args.address)
    try:
        client = connect(address)
        if args.follow:
            return wait_for(client, args.submission_id, everything=True)  # the whole log, as without --follow
        sys.stdout.write(client.get_job_logs(args.submission_id))
    except Exception as err:
        return fail_for_job(err, args.submission_id, address)
    return exit_codes.OK
