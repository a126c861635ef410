"""summary.json, computed once from the committed units the run holds (reused and new),
and the Parquet metadata that says how a file was made."""

import json
from collections import Counter

import jobs
from jobs.driver.resume import ResumePlan
from jobs.plan.resolve import ResolvedJob
from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.redact import redact
from jobs.storage.run_summary import ConfidenceSummary, EngineRun, FingerprintRows, NodeLoss, OutputFolders, RunSummary
from operators.record_confidence import quantiles, rows_below
from operators.usage import Usage
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
        # label mode: the column holding the label, for readers such as `k2batch review`
        **({"k2batch.label_column": column} if (column := MODES[resolved.spec.task.mode].label_column(resolved.spec.task))
           else {}),
    }


def build_summary(resolved: ResolvedJob, plan: ResumePlan, committed: dict[str, CommittedUnit], *,
                  engines: list[EngineRun], engine_seconds: float, wall_seconds: float, run_id: str,
                  label_column: str | None, retried_rows: int = 0, recovered_rows: int = 0,
                  logs: str | None = None, lost_nodes: list[NodeLoss] = ()) -> RunSummary:
    """`committed`: every committed unit of this run by key (reused and new); `engines`:
    where this run's engines ran (jobs/watch/placement.py), empty if nothing ran;
    `lost_nodes`: the nodes the run lost (jobs/watch/run_watch.py); `logs`:
    the run's folder of logs and timeline, relative to the output (jobs/watch/run_files.py);
    `label_column`: label mode's, whose distribution the summary gives."""
    units = list(committed.values())
    reasons: Counter = Counter()
    rows: dict[str, Counter] = {}
    for unit in units:
        reasons.update(unit.reasons)
        for fingerprint, counts in unit.fingerprint_rows.items():
            rows.setdefault(fingerprint, Counter()).update(counts)
    usage = Usage.total(unit.usage for unit in units)
    spec = resolved.spec
    return RunSummary(
        name=spec.name, run_id=run_id, input_rows=resolved.input_rows,
        records=sum(u.records for u in units), rejects=sum(u.rejects for u in units), reject_reasons=dict(reasons),
        **usage.as_dict(),
        units=plan.units, reused_units=len(plan.reused), reused_rows=sum(u.rows for u in plan.reused.values()),
        engines=engines, lost_nodes=list(lost_nodes), engine_seconds=round(engine_seconds, 3),
        wall_seconds=round(wall_seconds, 3),
        deduplicated_rows=sum(u.deduplicated_rows for u in units), retried_rows=retried_rows, recovered_rows=recovered_rows,
        rows_by_fingerprint={fp: FingerprintRows(**counts) for fp, counts in sorted(rows.items())},
        label_distribution=label_distribution(resolved, units, label_column) if label_column else None,
        confidence=confidence_summary(units, spec.task.review_below) if spec.task.confidence else None,
        input_uri=redact(spec.input.uri), fingerprints=resolved.fingerprints, model=spec.model.source,
        output=OutputFolders(**{kind: redact(f"{spec.output.table.format} table {getattr(spec.output.table, kind)}"
                                             if spec.output.table else f"{spec.output.uri.rstrip('/')}/{kind}/")
                                for kind in ("records", "rejects")}),
        k2batch_version=jobs.__version__, logs=logs,
    )


def label_distribution(resolved: ResolvedJob, units: list[CommittedUnit], column: str) -> dict[str, int]:
    """Records per label over every committed unit (reused ones too), each declared
    label listed, in schema order, even when no record has it."""
    counts = Counter({label: 0 for label in declared_labels(resolved.record_schema, column)})
    for unit in units:
        counts.update(unit.labels)
    return dict(counts)


QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)


def confidence_summary(units: list[CommittedUnit], review_below: float) -> ConfidenceSummary:
    """The records' confidence over every committed unit, from the histograms the writer kept."""
    histogram = sum((Counter(unit.confidence_buckets) for unit in units), Counter())
    return ConfidenceSummary(records=sum(histogram.values()), quantiles=quantiles(histogram, QUANTILES),
                             review_below=review_below, below_review=rows_below(histogram, review_below))
