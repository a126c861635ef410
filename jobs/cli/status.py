"""Show a submitted job's status, like `ray job status`; a finished job's exit code is ours."""

from jobs import exit_codes
from jobs.cli.submit import add_address_argument, fail_for_job


def add_arguments(parser) -> None:
    parser.add_argument("submission_id", help="the id `k2batch submit` printed")
    add_address_argument(parser)


def run(args) -> int:
    from jobs.cluster.job_client import connect
    from jobs.cluster.submission import exit_code_of, job_server_address

    address = job_server_address(args.address)
    try:
        info = connect(address).get_job_info(args.submission_id)
    except Exception as err:
        return fail_for_job(err, args.submission_id, address)
    status = info.status.value
    run_id = (info.metadata or {}).get("k2batch_run_id", "")
    line = f"{args.submission_id} {status}" + (f" run {run_id}" if run_id else "")
    if info.status.is_terminal():
        code = exit_code_of(status, info.driver_exit_code)
        print(f"{line} exit code {code}" + (f": {info.message}" if info.message and code else ""))
        return code
    print(line)
    return exit_codes.OK  # still pending or running: nothing to act on yet
