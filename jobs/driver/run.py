"""`k2batch run`: resolve the spec, skip committed units, stream the rest through the
mode's flow, commit each unit as its last row is written, and write the summary and
the report.

Quiet by default (jobs/watch/log_capture.py): the terminal gets the start line, the
progress, problems and the summary; the engine's, Ray's and k2batch's logs go to the
run's log file (jobs/watch/run_files.py). `verbose` leaves them on the terminal.
"""

import logging
import sys
import time
from contextlib import ExitStack

import ray

from jobs.driver.commit import ConservationError, UnitCommitter, commit_as_written
from jobs.driver.drain import Drain, RunStopped, drain_check
from jobs.driver.empty_outputs import write_empty_datasets
from jobs.driver.node_loss import run_passes
from jobs.watch.log_capture import quiet_logging
from jobs.watch.placement import engine_placement, now_ms
from jobs.watch.progress import RunStart
from jobs.driver.ray_session import warn_if_no_node_fits, connect_ray, disconnect_ray, session_replicas, session_uses_gpus
from jobs.driver.resume import resume_units
from jobs.driver.retry_rejects import RetryCommitter, plan_retry
from jobs.watch.run_files import LOG_NOTE, REPORT_NAME, RunFiles
from jobs.watch.run_watch import RunWatch
from jobs.watch.stall_guard import StallError
from jobs.driver.summary import build_summary, provenance
from jobs.driver.table_output import open_table_output
from jobs.watch.timeline import Timeline
from jobs.plan.settings_from_spec import flow_plan
from jobs.plan.resolve import ResolvedJob, resolve_job
from jobs.spec import JobSpec
from jobs.storage.filesystem import filesystem_for
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import OutputStore
from jobs.storage.redact import redact
from jobs.storage.run_summary import RunSummary
from pipelines.engine_actor import release_warm_engine
from pipelines.flow_plan import WriteSettings
from pipelines.flow_stop import stop_flow
from pipelines.registry import MODES, build_flow
from pipelines.stages import engine_stage_depth

log = logging.getLogger("k2batch")


def run_job(spec: JobSpec, *, run_id: str | None = None, display: str = "auto", verbose: bool = False,
            report: bool = True, retry_rejects: bool = False, reasons: list[str] | None = None) -> RunSummary:
    """The summary. `display`: how progress is shown (jobs/watch/run_watch.py RunWatch);
    `report`: write report.html next to summary.json; `retry_rejects`: run only the
    committed rejects again (of `reasons`, if given: jobs/driver/retry_rejects.py)."""
    started = time.monotonic()
    run_id = run_id or spec.name
    with ExitStack() as stack:
        quiet = None if verbose else stack.enter_context(quiet_logging())
        resolved = resolve_job(spec)
        out_fs, out_root = filesystem_for(spec.output.uri, spec.output.storage_options)
        store = OutputStore(out_fs, out_root)
        label_column = _label_column(spec)
        tables = open_table_output(resolved, store)  # None: records/ and rejects/ folders
        resume = (plan_retry(resolved, store, reasons or [], label_column=label_column, tables=tables) if retry_rejects
                  else resume_units(resolved, store, label_column=label_column, tables=tables))
        log.info("%d unit(s), %d reused, %d to run", resume.units, len(resume.reused), len(resume.pending))
        files = RunFiles.for_run(store, run_id)
        start = RunStart(job=spec.name, run_id=run_id, units=resume.units, reused_units=len(resume.reused),
                         rows=resolved.input_rows,
                         # a retry's progress counts its retried rows; every other row stays as committed
                         reused_rows=(resolved.input_rows - resume.retried_rows if retry_rejects
                                      else sum(u.rows for u in resume.reused.values())),
                         logs="this terminal (verbose)" if verbose else files.where(store))
        watch = RunWatch(spec, start, quiet.terminal if quiet else sys.stderr, display)
        if quiet:
            stack.enter_context(quiet.capture(files.log_file))
        # A notebook session's warm preview engine holds the cores or GPUs this run's engines need; stopped
        # once the output goes to the run's log, which takes what the dying engine still logs.
        release_warm_engine()
        stalled = None
        drain = Drain(spec.model.drain_timeout_s)
        try:
            committed = dict(resume.reused)
            fingerprint = resolved.fingerprints["job"]
            committer = (RetryCommitter(store, resume, fingerprint, resolved.id_field.name, counts_labels=bool(label_column),
                                        sink=tables)
                         if retry_rejects else UnitCommitter(store, resume.pending, fingerprint,
                                                             counts_labels=bool(label_column), sink=tables))
            if resume.pending:
                committed.update(_run_pending(resolved, store, committer, watch, label_column, drain, quiet=quiet is not None))
            summary = build_summary(resolved, resume, committed, engines=committer.engines, lost_nodes=watch.losses,
                                    engine_seconds=committer.engine_seconds, wall_seconds=time.monotonic() - started,
                                    run_id=run_id, label_column=label_column, retried_rows=committer.retried_rows,
                                    recovered_rows=committer.recovered_rows, logs=files.folder)
            store.clear_staging()
            if tables is None:  # a table exists, typed, from the run's start
                write_empty_datasets(store, resolved, committed)
            watch.close()
            if report and _write_report(store, summary, list(committed.values()), watch.timeline, provenance(resolved)):
                summary.report = REPORT_NAME
            store.write_summary(summary)
        except Exception as err:
            stalled = str(err) if isinstance(err, (StallError, RunStopped)) else None
            if isinstance(err, RunStopped) and not err.at_once:
                store.clear_staging()  # what the drain could not commit; the flow has stopped
            if quiet:
                err.add_note(f"{LOG_NOTE}{files.log_file}")
            raise
        finally:
            watch.close(stalled=stalled)
            _publish(files, store, watch)
    if summary.records + summary.rejects != summary.input_rows:
        raise ConservationError(
            f"records ({summary.records}) + rejects ({summary.rejects}) != input rows ({summary.input_rows})"
        )
    return summary


def _label_column(spec: JobSpec) -> str | None:
    return MODES[spec.task.mode].label_column(spec.task)


def _run_pending(resolved: ResolvedJob, store: OutputStore, committer: UnitCommitter, watch: RunWatch,
                 label_column: str | None, drain: Drain, *, quiet: bool) -> dict[str, CommittedUnit]:
    """Run the pending units, in passes (a node lost: jobs/driver/node_loss.py), drained
    on SIGTERM or SIGINT (jobs/driver/drain.py)."""
    spec = resolved.spec
    started_ray = connect_ray(spec)
    context = ray.data.DataContext.get_current()
    ray_bars = context.enable_progress_bars
    if quiet:
        context.enable_progress_bars = False  # ours count rows; Ray Data's would fill the log every 10 s
    try:
        warn_if_no_node_fits(spec)
        names = {key: unit.location for key, unit in committer.units.items()}
        since = now_ms()
        with engine_stage_depth(spec.model.max_batches_in_flight), watch.flow(names), \
                drain.handling(lambda: len(committer.uncommitted())):
            watch.ticks.append(drain_check(drain, watch, committer))
            try:
                run_passes(lambda units: _run_pass(resolved, store, committer, watch, label_column, units), committer, watch)
            except ConservationError:
                if drain.signal is None:
                    raise
                raise drain.stopped(len(committer.uncommitted())) from None  # the drained units were read as no rows
        committer.engines = engine_placement(since, list(watch.guard.snapshot.engines.values()), committer.rows_by_replica)
        return committer.committed
    finally:
        context.enable_progress_bars = ray_bars
        if started_ray:
            disconnect_ray()  # also stops worker log forwarding before the summary is printed


def _run_pass(resolved: ResolvedJob, store: OutputStore, committer: UnitCommitter, watch: RunWatch,
              label_column: str | None, units: list) -> None:
    """One pass of the mode's flow over `units`, staging into a folder of its own."""
    spec = resolved.spec
    write = WriteSettings(filesystem=store.fs, staging_dir=store.new_staging_dir(), id_field=resolved.id_field,
                          record_schema=resolved.record_schema, metadata=provenance(resolved), label_column=label_column,
                          plain_types=spec.output.table is not None)
    plan = flow_plan(resolved, units=units, use_gpus=session_uses_gpus(spec), write=write, replicas=session_replicas(spec))
    flow = build_flow(plan)
    try:
        commit_as_written(watch.reports(flow), committer, watch)
    finally:
        stop_flow(flow)  # a pass left early (an error, a drain, a lost replica) leaves nothing running


def _publish(files: RunFiles, store: OutputStore, watch: RunWatch) -> None:
    """The timeline, and the log of an object-store output; never in the way of the run's own error."""
    try:
        files.publish(store, watch.timeline.to_json())
    except Exception as err:
        log.warning("the run's log and timeline were not copied to %s/%s: %s", store.uri, files.folder, err)


def _write_report(store: OutputStore, summary: RunSummary, units: list[CommittedUnit], timeline: Timeline,
                  provenance: dict[str, str]) -> bool:
    """report.html next to summary.json, drawn from what the run holds (summary.json is
    written after it); a report that fails is a warning, not a failed job."""
    from jobs.report import ReportData, write_report

    try:
        write_report(store, ReportData(uri=redact(store.uri), summary=summary, units=units, timeline=timeline,
                                       provenance=provenance))
        return True
    except Exception as err:  # the job's results are committed
        log.warning("%s was not written: %s: %s", REPORT_NAME, type(err).__name__, err)
        return False
