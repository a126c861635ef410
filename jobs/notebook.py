"""The notebook API: build a job in Python, preview it on a few rows, run it, look at it.

    from jobs.notebook import estimate, preview, run
    job = JobSpec(name=..., input=..., task=TaskSpec(schema=MyModel, ...), model=..., output=...)
    preview(job, n=20)        # a DataFrame; seconds once the engine is warm
    estimate(job)             # tokens, rejects, engine time projected from a random sample
    result = run(job)         # the whole job, with a progress bar
    result.records, result.rejects, result.summary, result.plot()   # the report's figures
    result.review(n=50)       # the least confident records beside their input (task.confidence)
    read_records(job.output.uri)  # {id: record as the JSON value the schema describes}

The preview engine is a named Ray actor that lives as long as this Python session's
Ray connection (pipelines/engine_actor.py warm_engine): a preview whose model settings
match the running engine's reuses it (only the task, i.e. schema, prompts and sampling,
is swapped), other settings replace it. A run or an estimate stops it first, because a
machine holds one model copy: their own engine needs the same cores or GPUs.

This module starts Ray itself (a local cluster, or RAY_ADDRESS), so `run_job` leaves
it running between calls and the warm engine survives. Preview and run build their flow
from the same plan and mode registry as `k2batch run` (pipelines/registry.py).
"""

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import ray

from jobs.driver.estimate import DEFAULT_SAMPLE, estimate_job
from jobs.driver.projection import Estimate
from jobs.driver.ray_session import connect_ray, session_uses_gpus
from jobs.driver.run import run_job
from jobs.plan.settings_from_spec import flow_plan, read_settings
from jobs.plan.resolve import ResolvedJob, resolve_job
from jobs.spec import InputSpec, JobSpec
from jobs.storage.committed import committed_files, read_committed, read_records  # noqa: F401 - part of this API
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import OutputStore
from jobs.storage.run_summary import RunSummary
from pipelines.engine_actor import release_warm_engine as release_engine  # noqa: F401 - part of this API
from pipelines.engine_actor import warm_engine
from pipelines.registry import MODES
from pipelines.stages import unit_reader
from schemas.labels import declared_labels

LARGE_OUTPUT_ROWS = 500_000  # above this, result tables are Ray Datasets instead of DataFrames
# What every preview shows of an answer (besides the record's fields and its mode's columns).
PREVIEW_ANSWER = ("_record_json", "_reason", "error", "_attempts")


def preview(job: JobSpec, n: int = 20) -> pd.DataFrame:
    """The job's answers for the first `n` input rows, nothing written: one row per input
    row with its record fields (and `summary`), or its reject `reason` and `error`."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    resolved = resolve_job(job)
    connect_ray(job)
    plan = flow_plan(resolved, units=resolved.units, use_gpus=session_uses_gpus(job))
    rows = first_rows(resolved, n)
    mode = MODES[plan.mode]
    stage = mode.prepare(plan)  # the same prepare stage `k2batch run` uses for this mode
    engine = warm_engine(plan)
    ray.get(engine.configure.remote(plan.task))
    confidence = ("_confidence",) if plan.task.confidence else ()  # task.confidence: shown beside the answer
    answered = ray.get(engine.answer.remote(stage(rows), columns=(*PREVIEW_ANSWER, *mode.preview_columns.values(),
                                                                  *confidence)))
    return _preview_frame(resolved, rows, answered)


def estimate(job: JobSpec, *, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> Estimate:
    """`k2batch estimate`: the whole input's projections from `sample` random rows, each
    {value, low, high}; nothing is written. The preview engine is stopped first."""
    connect_ray(job)
    return estimate_job(job, sample=sample, seed=seed,
                        log_file=Path(tempfile.gettempdir()) / f"k2batch-{job.name}.estimate.log")


def run(job: JobSpec, *, progress: bool = True, retry_rejects: bool = False, reasons: list[str] | None = None) -> "JobResult":
    """Run the whole job (resume, commits, summary.json and report.html: as `k2batch run`
    does) and load its results. The preview engine is stopped first, to free the machine
    for the run. A progress bar shows in the notebook; the engine's and Ray's logs go to
    the run's log file (summary.logs under the output), not into the cell.
    `retry_rejects`, `reasons`: `k2batch run --retry-rejects [--reason R ...]`."""
    connect_ray(job)
    summary = run_job(job, display="notebook" if progress else "none", retry_rejects=retry_rejects, reasons=reasons)
    return JobResult.load(job, summary)


@dataclass
class JobResult:
    """A finished job: its summary and its records and rejects (DataFrames, or Ray
    Datasets above LARGE_OUTPUT_ROWS rows)."""

    job: JobSpec
    summary: RunSummary
    records: Any
    rejects: Any

    @classmethod
    def load(cls, job: JobSpec, summary: RunSummary) -> "JobResult":
        return cls(job=job, summary=summary, records=_table(job, "records", summary.records),
                   rejects=_table(job, "rejects", summary.rejects))

    @property
    def label_distribution(self) -> dict[str, int] | None:
        return self.summary.label_distribution

    def review(self, n: int | None = None, *, below: float | None = None, rejects: bool = False) -> pd.DataFrame:
        """The review queue (task.confidence): the `n` least confident records, or those
        below `below` (default: task.review_below), least confident first, beside their
        input text; with `rejects`, the rejects first. `k2batch review` writes the same
        for Label Studio (jobs/review/)."""
        from jobs.review import review_queue

        output = self.job.output
        return review_queue(output.uri, n=n, below=below, rejects=rejects, storage_options=output.storage_options).rows

    def plot(self):
        """A matplotlib Figure with the panels of the job's report (report.html): throughput
        over time, records and rejects, reject reasons, attempts, tokens, prefix cache,
        and the label distribution of a label job."""
        from jobs.report import load_report_data
        from jobs.report.figures import all_panels

        _inline_figures()
        return all_panels(load_report_data(OutputStore(*filesystem_for(self.job.output.uri, self.job.output.storage_options))))


def _inline_figures() -> None:
    """Jupyter shows a Figure as an image once the inline backend has registered its
    formatters, which importing pyplot does only if nothing resolved the backend before:
    the run's report (SVG rendering) did. Registering them again is what `%matplotlib
    inline` does; another backend a user chose is left alone."""
    import matplotlib
    import matplotlib.pyplot  # noqa: F401

    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and "inline" in matplotlib.get_backend():
        shell.run_line_magic("matplotlib", "inline")


def input_from_dataset(dataset, *, id_column: str, folder: str | Path | None = None) -> InputSpec:
    """An `input` section for a Hugging Face `datasets.Dataset`: written once as a
    Hub-style Parquet folder (data/train-00000-of-00001.parquet) named by the dataset's
    content, so the same dataset is the same unit file and a rerun resumes."""
    if id_column not in dataset.column_names:
        raise ValueError(f"input.id_column: {id_column!r} is not a column of the dataset (it has {dataset.column_names})")
    identity = getattr(dataset, "_fingerprint", None) or hashlib.sha256(
        json.dumps(dataset.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    root = Path(folder) if folder else Path(tempfile.gettempdir()) / "k2batch-datasets" / identity
    path = root / "data" / "train-00000-of-00001.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")  # dot-named: the input listing skips it
        dataset.to_parquet(str(partial))
        partial.rename(path)
    return InputSpec(uri=str(root), id_column=id_column)


def first_rows(resolved: ResolvedJob, n: int) -> pd.DataFrame:
    """The first `n` rows of the input (the columns the job reads), with `_unit`, read
    unit by unit as a run reads them."""
    read = read_settings(resolved, resolved.units)
    frames, left, read_unit = [], n, unit_reader(read)
    for unit in read.units:
        table = read_unit(unit)
        frames.append(table.slice(0, left).to_pandas())
        left -= len(frames[-1])
        if not left:
            break
    return pd.concat(frames, ignore_index=True)


def _preview_frame(resolved: ResolvedJob, rows: pd.DataFrame, answered: pd.DataFrame) -> pd.DataFrame:
    spec = resolved.spec
    mode = MODES[spec.task.mode]
    fields = resolved.record_schema.arrow_schema.names
    records = [json.loads(r) if isinstance(r, str) else {} for r in answered["_record_json"]]
    frame = pd.DataFrame({spec.input.id_column: rows[spec.input.id_column].to_list()})
    for name in fields:
        frame[name] = [r.get(name) for r in records]
    if (column := mode.label_column(spec.task)) is not None:
        frame[column] = pd.Categorical(frame[column], categories=declared_labels(resolved.record_schema, column))
    for shown, column in mode.preview_columns.items():
        frame[shown] = answered[column].to_list()
    frame["reason"] = answered["_reason"].to_list()
    frame["error"] = answered["error"].to_list()
    frame["_attempts"] = answered["_attempts"].to_list()
    if "_confidence" in answered.columns:
        frame["_confidence"] = answered["_confidence"].to_list()
    for name in rows.columns.drop([spec.input.id_column, "_unit"]):
        frame[name if name not in frame.columns else f"input.{name}"] = rows[name].to_list()
    return frame


def _table(job: JobSpec, kind: str, rows: int):
    if rows > LARGE_OUTPUT_ROWS:
        import pyarrow.fs as pafs

        fs, _ = filesystem_for(job.output.uri, job.output.storage_options)
        return ray.data.read_parquet(committed_files(job.output.uri, kind, job.output.storage_options),
                                     filesystem=pafs.PyFileSystem(pafs.FSSpecHandler(fs)))
    table = read_committed(job.output.uri, kind, job.output.storage_options, table=job.output.table)
    return table.to_pandas() if table is not None else pd.DataFrame()
