"""`k2batch run`: resolve the spec, skip committed units, stream the rest through the
mode's flow, commit each unit as its last row is written, and write the summary."""

import logging
import time

import ray

from jobs.driver.commit import ConservationError, UnitCommitter, commit_as_written
from jobs.driver.empty_outputs import write_empty_datasets
from jobs.driver.ray_session import check_replica_fits, connect_ray, session_uses_gpus
from jobs.driver.resume import resume_units
from jobs.driver.retry import RetryCommitter, plan_retry, run_figures
from jobs.driver.summary import build_summary, provenance
from jobs.plan.flow_plan import flow_plan
from jobs.plan.resolve import ResolvedJob, resolve_job
from jobs.spec import JobSpec
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import CommittedUnit, OutputStore
from pipelines.flow_plan import WriteSettings
from pipelines.registry import build_flow
from pipelines.stages import engine_stage_depth

log = logging.getLogger("k2batch")


def run_job(spec: JobSpec, *, run_id: str | None = None, on_rows=None, retry_rejects: bool = False,
            reasons: list[str] | None = None) -> dict:
    """`on_rows(n)`, if given, is called as each written file's n rows arrive (a progress bar).
    `retry_rejects`: run only the committed rejects again (of `reasons`, if given: jobs/driver/retry.py)."""
    started = time.monotonic()
    resolved = resolve_job(spec)
    out_fs, out_root = filesystem_for(spec.output.uri, spec.output.storage_options)
    store = OutputStore(out_fs, out_root)
    resume = plan_retry(resolved, store, reasons or []) if retry_rejects else resume_units(resolved, store)
    log.info("%d unit(s), %d reused, %d to run", resume.units, len(resume.reused), len(resume.pending))
    committed = dict(resume.reused)
    committer = (RetryCommitter(store, resume, resolved.fingerprints["job"], resolved.id_field.name) if retry_rejects
                 else UnitCommitter(store, resume.pending, resolved.fingerprints["job"]))
    if resume.pending:
        committed.update(_run_pending(resolved, store, committer, on_rows))
    summary = build_summary(resolved, resume, committed, committer.engines, time.monotonic() - started, run_id or spec.name)
    summary.update(run_figures(committed, committer))
    store.clear_staging()
    write_empty_datasets(store, resolved, committed)
    store.write_summary(summary)
    if summary["records"] + summary["rejects"] != summary["input_rows"]:
        raise ConservationError(
            f"records ({summary['records']}) + rejects ({summary['rejects']}) != input rows ({summary['input_rows']})"
        )
    return summary


def _run_pending(resolved: ResolvedJob, store: OutputStore, committer: UnitCommitter, on_rows) -> dict[str, CommittedUnit]:
    spec = resolved.spec
    started_ray = connect_ray(spec)
    try:
        check_replica_fits(spec)
        write = WriteSettings(filesystem=store.fs, staging_dir=store.new_staging_dir(), id_field=resolved.id_field,
                              record_schema=resolved.record_schema, metadata=provenance(resolved))
        plan = flow_plan(resolved, units=list(committer.units.values()), use_gpus=session_uses_gpus(spec), write=write)
        with engine_stage_depth(spec.model.max_batches_in_flight):
            return commit_as_written(build_flow(plan), committer, on_rows)
    finally:
        if started_ray:
            ray.shutdown()  # also stops worker log forwarding before the summary is printed
