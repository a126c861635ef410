"""Run a job on a labeled sample and score its records against the gold ones."""

import json
import sys
import tempfile
from pathlib import Path

from jobs import exit_codes
from jobs.errors import describe
from jobs.spec import load_job


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
    from jobs.evaluate import GoldError

    try:
        if args.workdir:
            report = evaluate_job(args, args.workdir)
        else:
            with tempfile.TemporaryDirectory(prefix="k2batch-eval-") as workdir:
                report = evaluate_job(args, workdir)
    except GoldError as err:
        print(f"k2batch: error: --gold: {err}", file=sys.stderr)
        return exit_codes.SPEC_ERROR
    except Exception as err:  # every failure becomes one line and an exit code
        message, code = describe(err)
        print(f"k2batch: error: {message}", file=sys.stderr)
        return code
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}", file=sys.stderr)
    return exit_codes.OK


def evaluate_job(args, workdir: str) -> dict:
    """Check the gold sample, run the job on it into `workdir`, score, print the table."""
    from jobs.evaluate import format_report, gold_expectations, score
    from jobs.run import run_job

    spec = load_job(args.job, args.overrides)
    gold_options = {} if _is_local(args.gold) else spec.input.storage_options
    spec = spec.model_copy(update={
        "input": spec.input.model_copy(update={"uri": args.gold, "storage_options": gold_options}),
        "output": spec.output.model_copy(update={"uri": str(Path(workdir) / "output"), "storage_options": {},
                                                  "mode": "overwrite"}),
    })
    from jobs.check_job import check_job

    record_schema = check_job(spec).record_schema
    fields = list(record_schema.json_schema.get("properties", {}))
    # Read the gold before the engine starts: a bad gold file fails in a second, not a minute.
    gold = gold_expectations(_read_parquet(args.gold, gold_options), id_column=spec.input.id_column, fields=fields,
                             expected_column=args.expected_column)
    summary = run_job(spec)
    records = _read_output(spec.output.uri, "records")
    rejects = _read_output(spec.output.uri, "rejects")
    id_column = spec.input.id_column
    report = score(
        gold,
        records={row[id_column]: {f: row.get(f) for f in fields} for row in records},
        reject_reasons={row[id_column]: row["reason"] for row in rejects},
        validate=lambda record: record_schema.validate(record)[1],
    )
    print(format_report(report))
    return {"job": spec.name, "gold": args.gold, "model": spec.model.source, **report.to_dict(),
            "wall_seconds": summary["wall_seconds"], "fingerprints": summary["fingerprints"]}


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _read_parquet(uri: str, storage_options: dict):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.input_units import filesystem_for, list_parquet_files

    fs, path = filesystem_for(uri, storage_options)
    tables = []
    for file in list_parquet_files(fs, path, uri):
        with fs.open(file, "rb") as f:
            tables.append(pq.read_table(f))
    return pa.concat_tables(tables, promote_options="default")


def _read_output(uri: str, kind: str) -> list[dict]:
    import pyarrow.parquet as pq

    from jobs.input_units import filesystem_for
    from jobs.output_store import committed_files

    fs, _ = filesystem_for(uri, {})
    rows: list[dict] = []
    for file in committed_files(uri, kind):
        with fs.open(file, "rb") as f:
            rows += pq.read_table(f).to_pylist()
    return rows
