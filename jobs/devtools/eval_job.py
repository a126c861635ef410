"""`k2batch eval`'s work: run a job on a gold sample, through the same driver and mode
registry as `k2batch run`, and score its committed output (jobs/devtools/evaluate.py)."""

from pathlib import Path

from jobs.devtools.calibration import Calibration, calibrate, format_calibration
from jobs.devtools.evaluate import format_report, gold_expectations, record_matches, score
from jobs.driver.run import run_job
from jobs.plan.input_files import read_parquet_table
from jobs.plan.resolve import resolve_job
from jobs.spec import load_job
from jobs.storage.committed import read_committed, read_records


def evaluate_job(job: str, *, gold: str, workdir: str, overrides: list[str] = (), expected_column: str | None = None) -> dict:
    """Check the gold sample, run the job on it into `workdir`, score, print the table."""
    spec = load_job(job, overrides)
    gold_options = {} if _is_local(gold) else spec.input.storage_options
    spec = spec.model_copy(update={
        "input": spec.input.model_copy(update={"uri": gold, "storage_options": gold_options}),
        "output": spec.output.model_copy(update={"uri": str(Path(workdir) / "output"), "storage_options": {},
                                                  "mode": "overwrite", "table": _eval_table(spec.output.table, workdir)}),
    })
    record_schema = resolve_job(spec).record_schema
    fields = record_schema.arrow_schema.names
    # Read the gold before the engine starts: a bad gold file fails in a second, not a minute.
    expected = gold_expectations(read_parquet_table(gold, gold_options), id_column=spec.input.id_column, fields=fields,
                                 expected_column=expected_column)
    summary = run_job(spec)
    # As the JSON values the schema describes (JSON columns decoded, maps as objects), so
    # that a record validates as it did when it was written.
    records = {row_id: {"value": value} if record_schema.wrapped else value
               for row_id, value in read_records(spec.output.uri, table=spec.output.table).items()}
    rejects = _rows(spec.output.uri, "rejects", spec.output.table)
    id_column = spec.input.id_column
    report = score(
        expected,
        records={row_id: {f: record.get(f) for f in fields} for row_id, record in records.items()},
        reject_reasons={row[id_column]: row["reason"] for row in rejects},
        validate=lambda record: record_schema.validate(record)[1],
    )
    print(format_report(report))
    calibration = _calibration(spec.output.uri, spec.output.table, expected, records={row_id: {f: record.get(f) for f in fields}
                                                                    for row_id, record in records.items()})
    if calibration is not None:
        print(format_calibration(calibration))
    return {"job": spec.name, "gold": gold, "model": spec.model.source, **report.to_dict(),
            **({"calibration": calibration.to_dict()} if calibration is not None else {}),
            "wall_seconds": summary.wall_seconds, "fingerprints": summary.fingerprints}


def _calibration(uri: str, table_spec, expected: dict, records: dict) -> Calibration | None:
    """Each gold row's record: its _confidence against whether it matches the gold one;
    None without task.confidence. Rejects have no confidence and are left out."""
    table = read_committed(uri, "records", table=table_spec)
    if table is None or "_confidence" not in table.column_names:
        return None
    confidences = dict(zip(table.column(0).to_pylist(), table.column("_confidence").to_pylist()))
    return calibrate([(confidences[row_id], record_matches(want, records.get(row_id)))
                      for row_id, want in expected.items() if confidences.get(row_id) is not None])


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _eval_table(table, workdir: str):
    """A job's output.table, moved into the eval's work folder: an eval never writes the
    job's own tables (iceberg: the embedded catalog there; delta: tables there)."""
    if table is None:
        return None
    if table.format == "iceberg":
        return table.model_copy(update={"catalog": None})
    return table.model_copy(update={kind: str(Path(workdir) / "tables" / kind) for kind in ("records", "rejects")}
                            | {"storage_options": {}})


def _rows(uri: str, kind: str, table) -> list[dict]:
    table = read_committed(uri, kind, table=table)
    return table.to_pylist() if table is not None else []
