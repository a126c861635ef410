"""`k2batch run`: check the spec, skip committed units, stream the rest through the
pipeline, commit each unit as its last row is written, and write the summary."""

import json
import logging
import os
import time
from collections import defaultdict

import ray

import jobs
from jobs.check_job import CheckedJob, check_job
from jobs.input_units import filesystem_for
from jobs.output_store import CommittedUnit, OutputStore
from jobs.redact import redact
from jobs.spec import JobSpec
from pipelines.extract import ExtractPlan, build_extract, engine_stage_depth
from pipelines.label import build_label, label_distribution
from pipelines.summarize import build_summarize
from schemas.labels import label_column

log = logging.getLogger("k2batch")
PIPELINES = {"extract": build_extract, "summarize": build_summarize, "label": build_label}  # by task.mode


# Ray Data packs small Parquet files into one read block of up to 128 MiB. A unit (one
# input file) commits only when its last row is written, so a block holding every file
# would commit them all at the very end and a crash would lose them all. Blocks of about
# 1 MiB of Parquet keep units finishing one after another; rows are costly to generate,
# so the extra read tasks cost nothing that shows.
READ_SETTINGS = {"RAY_DATA_PARQUET_BIN_PACKING_BYTES": os.environ.get("RAY_DATA_PARQUET_BIN_PACKING_BYTES", str(1 << 20))}


class ConservationError(RuntimeError):
    """Rows went missing or were duplicated: the job must not report success."""


def run_job(spec: JobSpec, *, run_id: str | None = None, on_rows=None) -> dict:
    """`on_rows(n)`, if given, is called as each written file's n rows arrive (a progress bar)."""
    started = time.monotonic()
    checked = check_job(spec)
    out_fs, out_root = filesystem_for(spec.output.uri, spec.output.storage_options)
    store = OutputStore(out_fs, out_root)
    keys = {unit.path: unit.key(checked.fingerprints["job"]) for unit in checked.units}
    reused = store.prepare(mode=spec.output.mode, job_fingerprint=checked.fingerprints["job"], planned_keys=set(keys.values()))
    pending = [unit for unit in checked.units if keys[unit.path] not in reused]
    log.info("%d unit(s), %d reused, %d to run", len(checked.units), len(checked.units) - len(pending), len(pending))
    if pending:
        _run_pending(checked, store, pending, keys, on_rows)
    summary = _summarize(checked, store, keys, reused, time.monotonic() - started)
    summary["run_id"] = run_id or spec.name
    if spec.task.mode == "label":
        summary["label_distribution"] = label_distribution(
            spec.output.uri, spec.output.storage_options, out_fs, checked.record_schema, label_column(spec.task))
    store.clear_staging()
    store.write_summary(summary)
    if summary["records"] + summary["rejects"] != summary["input_rows"]:
        raise ConservationError(
            f"records ({summary['records']}) + rejects ({summary['rejects']}) != input rows ({summary['input_rows']})"
        )
    return summary


def _run_pending(checked: CheckedJob, store: OutputStore, pending, keys: dict[str, str], on_rows=None) -> None:
    spec = checked.spec
    started_ray = _connect_ray(spec)
    try:
        _check_replica_fits(spec)
        _stream_and_commit(checked, store, pending, keys, on_rows)
    finally:
        if started_ray:
            ray.shutdown()  # also stops worker log forwarding before the summary is printed


def _stream_and_commit(checked: CheckedJob, store: OutputStore, pending, keys: dict[str, str], on_rows=None) -> None:
    spec = checked.spec
    plan = ExtractPlan(
        spec=spec, record_schema=checked.record_schema, system_prompt=checked.system_prompt,
        model_source=checked.model_source, input_files=[u.path for u in pending], input_filesystem=checked.input_fs,
        output_filesystem=store.fs, staging_dir=store.new_staging_dir(), id_field=checked.id_field,
        metadata=provenance(checked), use_gpus=_use_gpus(spec), read_schema=checked.read_schema,
    )
    by_path = {unit.path: unit for unit in pending}
    with engine_stage_depth(spec.model.max_batches_in_flight):
        _commit_as_written(PIPELINES[spec.task.mode](plan), checked, store, by_path, keys, on_rows)


def _commit_as_written(dataset: ray.data.Dataset, checked: CheckedJob, store: OutputStore, by_path: dict, keys: dict[str, str],
                       on_rows=None) -> None:
    """Commit each unit as soon as its last file is written."""
    progress: dict[str, CommittedUnit] = {}
    staged: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for written in _as_written(dataset):
        unit = by_path[written["unit"]]
        if on_rows:
            on_rows(written["rows"])
        entry = progress.setdefault(unit.path, CommittedUnit(
            key=keys[unit.path], input_path=unit.path, job_fingerprint=checked.fingerprints["job"], rows=unit.rows,
            records=0, rejects=0, prompt_tokens=0, completion_tokens=0, reasons={},
        ))
        setattr(entry, written["kind"], getattr(entry, written["kind"]) + written["rows"])
        entry.prompt_tokens += written["prompt_tokens"]
        entry.completion_tokens += written["completion_tokens"]
        entry.cached_prompt_tokens += written["cached_prompt_tokens"]
        for reason, count in json.loads(written["reasons"]).items():
            entry.reasons[reason] = entry.reasons.get(reason, 0) + count
        staged[unit.path][written["kind"]].append(written["path"])
        done = entry.records + entry.rejects
        if done > unit.rows:
            raise ConservationError(f"unit {unit.path}: {done} rows written for {unit.rows} input rows")
        if done == unit.rows:
            store.commit(entry, staged.pop(unit.path))
            log.info("committed %s (%d records, %d rejects)", unit.path, entry.records, entry.rejects)
    unfinished = [path for path in by_path if path not in progress or progress[path].records + progress[path].rejects < by_path[path].rows]
    if unfinished:
        raise ConservationError(f"{len(unfinished)} unit(s) did not get every row back, e.g. {unfinished[0]}")


def _as_written(dataset: ray.data.Dataset):
    """The writer's reports, each as soon as its file is written. `iter_rows()` holds
    every block back until the next one is ready (it prefetches one), so each unit
    would commit a file late and a crash would lose the last finished unit (measured:
    a block done at 5 s reached the driver at 14 s, when the next one was done)."""
    for batch in dataset.iter_batches(batch_size=None, prefetch_batches=0, batch_format="pyarrow"):
        yield from batch.to_pylist()


def _connect_ray(spec: JobSpec) -> bool:
    """Join the cluster a submitted job runs on; otherwise start a local one sized so
    that the engine replicas leave a core for reading and writing. True if connected
    here (then shut down after: on a cluster that only disconnects this driver)."""
    if ray.is_initialized():
        return False
    os.environ.update(READ_SETTINGS)  # before ray.init: a local cluster's workers inherit it
    if os.environ.get("RAY_ADDRESS"):  # Ray's job supervisor sets it for a submitted job
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        return True
    engine_cpus = spec.model.tensor_parallel_size * spec.model.replicas
    # address="local": a new cluster even when another `ray start` on this machine left
    # /tmp/ray/ray_current_cluster behind, which a bare ray.init() would join.
    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, engine_cpus + 1), include_dashboard=False,
             log_to_driver=True)
    return True


def _check_replica_fits(spec: JobSpec) -> None:
    """Fail in seconds, not at an engine's start, when no node can hold one replica.
    A local cluster counts this machine's cores: its logical CPUs are raised above
    them so that reading and writing tasks can run beside the engine."""
    from jobs.submission import NodeCapacity, check_replicas_fit

    local = not os.environ.get("RAY_ADDRESS")
    nodes = [
        NodeCapacity(node_id=n["NodeID"], cpus=float(os.cpu_count() or 1) if local else n["Resources"].get("CPU", 0.0),
                     gpus=n["Resources"].get("GPU", 0.0))
        for n in ray.nodes() if n["Alive"]
    ]
    warning = check_replicas_fit(spec, nodes, "this machine" if local else "the cluster")
    if warning:
        log.warning(warning)


def _use_gpus(spec: JobSpec) -> bool:
    if spec.model.device != "auto":
        return spec.model.device == "gpu"
    return ray.cluster_resources().get("GPU", 0) > 0


def provenance(checked: CheckedJob) -> dict[str, str]:
    """Parquet metadata: how a file was made."""
    return {
        "k2batch.version": jobs.__version__,
        "k2batch.job_fingerprint": checked.fingerprints["job"],
        "k2batch.prompt_template": checked.spec.task.prompt,
        "k2batch.system_prompt": checked.system_prompt,
        "k2batch.schema": json.dumps(checked.record_schema.json_schema, sort_keys=True),
        "k2batch.model": checked.spec.model.source,
    }


def _summarize(checked: CheckedJob, store: OutputStore, keys: dict[str, str], reused: dict, wall_seconds: float) -> dict:
    committed = store.committed()
    units = [committed[keys[u.path]] for u in checked.units if keys[u.path] in committed]
    reasons: dict[str, int] = {}
    for unit in units:
        for reason, count in unit.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    spec = checked.spec
    return {
        "name": spec.name,
        "input_rows": sum(u.rows for u in checked.units),
        "records": sum(u.records for u in units),
        "rejects": sum(u.rejects for u in units),
        "reject_reasons": reasons,
        "prompt_tokens": sum(u.prompt_tokens for u in units),
        "completion_tokens": sum(u.completion_tokens for u in units),
        "cached_prompt_tokens": sum(u.cached_prompt_tokens for u in units),
        "units": len(checked.units),
        "reused_units": sum(1 for u in checked.units if keys[u.path] in reused),
        "reused_rows": sum(u.rows for u in checked.units if keys[u.path] in reused),
        "wall_seconds": round(wall_seconds, 3),
        "fingerprints": checked.fingerprints,
        "model": spec.model.source,
        "output": {kind: redact(f"{spec.output.uri.rstrip('/')}/{kind}/") for kind in ("records", "rejects")},
        "k2batch_version": jobs.__version__,
    }
