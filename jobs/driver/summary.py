"""summary.json, computed once from the committed units (reused and new), and the
Parquet metadata that says how a file was made."""

import json
from collections import Counter

import jobs
from jobs.driver.resume import ResumePlan
from jobs.plan.resolve import ResolvedJob
from jobs.storage.committed import read_committed
from jobs.storage.output_store import CommittedUnit
from jobs.storage.redact import redact
from pipelines.registry import MODES
from schemas.labels import declared_labels


def provenance(resolved: ResolvedJob) -> dict[str, str]:
    """Parquet metadata: how a file was made."""
    return {
        "k2batch.version": jobs.__version__,
        "k2batch.job_fingerprint": resolved.fingerprints["job"],
        "k2batch.prompt_template": resolved.spec.task.prompt,
        "k2batch.system_prompt": resolved.system_prompt,
        "k2batch.schema": json.dumps(resolved.record_schema.json_schema, sort_keys=True),
        "k2batch.model": resolved.spec.model.source,
    }


def build_summary(resolved: ResolvedJob, plan: ResumePlan, committed: dict[str, CommittedUnit], engines: list[dict],
                  wall_seconds: float, run_id: str, logs: str | None = None) -> dict:
    """`committed`: every committed unit of this run by key (reused and new); `engines`:
    where this run's engines ran (jobs/watch/placement.py), empty if nothing ran; `logs`:
    the run's folder of logs and timeline, relative to the output (jobs/watch/run_files.py)."""
    units = list(committed.values())
    reasons: Counter = Counter()
    for unit in units:
        reasons.update(unit.reasons)
    spec = resolved.spec
    summary = {
        "name": spec.name,
        "input_rows": resolved.input_rows,
        "records": sum(u.records for u in units),
        "rejects": sum(u.rejects for u in units),
        "reject_reasons": dict(reasons),
        "prompt_tokens": sum(u.prompt_tokens for u in units),
        "completion_tokens": sum(u.completion_tokens for u in units),
        "cached_prompt_tokens": sum(u.cached_prompt_tokens for u in units),
        "units": plan.units,
        "reused_units": len(plan.reused),
        "reused_rows": sum(u.rows for u in plan.reused.values()),
        "engines": engines,
        "wall_seconds": round(wall_seconds, 3),
        "fingerprints": resolved.fingerprints,
        "model": spec.model.source,
        "output": {kind: redact(f"{spec.output.uri.rstrip('/')}/{kind}/") for kind in ("records", "rejects")},
        "k2batch_version": jobs.__version__,
        "run_id": run_id,
    }
    if logs:
        summary["logs"] = logs
    if (column := MODES[spec.task.mode].label_column(spec.task)) is not None:
        summary["label_distribution"] = label_distribution(resolved, column)
    return summary


def label_distribution(resolved: ResolvedJob, column: str) -> dict[str, int]:
    """Records per label over every committed unit (reused ones too), each declared
    label listed, in schema order, even when no record has it."""
    counts = Counter({label: 0 for label in declared_labels(resolved.record_schema, column)})
    output = resolved.spec.output
    table = read_committed(output.uri, "records", output.storage_options, columns=[column])
    if table is not None:
        counts.update(table.column(0).to_pylist())
    return dict(counts)
