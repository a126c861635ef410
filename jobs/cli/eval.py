"""Run a job on a labeled sample and score its records against the gold ones."""

import json
import sys
import tempfile
from pathlib import Path

from jobs import exit_codes
from jobs.cli.errors import fail_with


def add_arguments(parser) -> None:
    parser.add_argument("job", help="the job spec (YAML); its input is replaced by the gold sample")
    parser.add_argument("--gold", required=True, metavar="GOLD.parquet",
                        help="labeled rows: the job's id and prompt columns plus the expected record, as columns "
                             "named like the schema's fields or as one JSON column (--expected-column)")
    parser.add_argument("--expected-column", default=None, metavar="NAME",
                        help="a JSON (or struct) column holding the whole expected record")
    parser.add_argument("--out", default="eval.json", help="where to write the report (default: eval.json)")
    parser.add_argument("--workdir", default=None,
                        help="keep the job's records and rejects here (overwritten); default: a temporary folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a spec field, e.g. --set model.source=models/k2-tiny")


def run(args) -> int:
    from jobs.devtools.eval_job import evaluate_job

    try:
        if args.workdir:
            report = evaluate_job(args.job, gold=args.gold, workdir=args.workdir, overrides=args.overrides,
                                  expected_column=args.expected_column)
        else:
            with tempfile.TemporaryDirectory(prefix="k2batch-eval-") as workdir:
                report = evaluate_job(args.job, gold=args.gold, workdir=workdir, overrides=args.overrides,
                                      expected_column=args.expected_column)
    except Exception as err:  # every failure becomes one line and an exit code
        return fail_with(err)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}", file=sys.stderr)
    if "calibration" in report:  # task.confidence: the reliability diagram beside the report
        from jobs.devtools.calibration import Calibration, reliability_figure

        figure = Path(args.out).with_suffix(".reliability.png")
        reliability_figure(Calibration.from_dict(report["calibration"]), title=report["job"]).savefig(figure, dpi=110)
        print(f"wrote {figure}", file=sys.stderr)
    return exit_codes.OK
