"""The run's tables (`output.table`), opened before any engine starts: created from the
records' and rejects' schemas when missing, refused when they do not fit
(jobs/storage/tables/). pyiceberg and deltalake are imported only by a job that has one."""

from jobs.driver.summary import provenance
from jobs.plan.resolve import ResolvedJob
from jobs.storage.output_store import OutputStore
from operators.write_parquet import records_arrow_schema, rejects_arrow_schema
from pipelines.registry import MODES


def kind_schemas(resolved: ResolvedJob):
    """The records' and rejects' Arrow schemas, with the provenance as their metadata."""
    metadata = provenance(resolved)
    task = resolved.spec.task
    mode = MODES[task.mode]
    return {
        "records": records_arrow_schema(resolved.id_field, resolved.record_schema, metadata,
                                        summary_column=mode.summary_column,
                                        confidence=mode.confidence(task, resolved.record_schema)),
        "rejects": rejects_arrow_schema(resolved.id_field, metadata),
    }


def open_table_output(resolved: ResolvedJob, store: OutputStore):
    """The job's TableOutput, opened; None for a folder output."""
    output = resolved.spec.output
    if output.table is None:
        return None
    from jobs.storage.tables import TableOutput

    tables = TableOutput(output.table, store, output.storage_options)
    tables.open(kind_schemas(resolved), mode=output.mode)
    return tables
