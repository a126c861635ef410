"""What a job report shows: the summary, the committed units (with their attempts and
token histograms, jobs/storage/committed_unit.py), the last run's timeline and how the
files were made. A run hands over what it holds; `k2batch report` reads the same from a
finished output (local or any fsspec URL): summary.json, the manifest, the timeline and
one file's footer."""

from collections import Counter
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from jobs.storage.committed_unit import CommittedUnit
from jobs.storage.output_store import KINDS, OutputStore
from jobs.storage.redact import redact
from jobs.storage.run_summary import RunSummary
from jobs.watch.run_files import TIMELINE_NAME
from jobs.watch.timeline import Timeline


class ReportError(ValueError):
    """The URI holds no finished k2batch output."""


@dataclass
class ReportData:
    uri: str  # as shown on the page, secrets masked
    summary: RunSummary
    units: list[CommittedUnit]
    timeline: Timeline | None  # None: an output written before runs kept one
    provenance: dict[str, str] = field(default_factory=dict)  # the files' k2batch.* Parquet metadata

    @property
    def label_distribution(self) -> dict[str, int] | None:
        return self.summary.label_distribution

    @property
    def attempts(self) -> Counter:
        """Rows by the attempts they took, records and rejects."""
        return sum((Counter(u.attempts) for u in self.units), Counter())

    @property
    def prompt_token_buckets(self) -> Counter:
        return sum((Counter(u.prompt_token_buckets) for u in self.units), Counter())

    @property
    def completion_token_buckets(self) -> Counter:
        return sum((Counter(u.completion_token_buckets) for u in self.units), Counter())

    @property
    def confidence_buckets(self) -> Counter:
        """task.confidence: records by operators/record_confidence.confidence_bucket."""
        return sum((Counter(u.confidence_buckets) for u in self.units), Counter())


def load_report_data(store: OutputStore) -> ReportData:
    """A finished output's report data, read through `store`."""
    summary = store.read_summary()
    if summary is None:
        raise ReportError(f"no summary.json under {redact(store.uri)}: not the output of a finished k2batch run")
    units = sorted(store.committed().values(), key=lambda u: u.input_path)
    return ReportData(uri=redact(store.uri), summary=summary, units=units, timeline=_timeline(store, summary),
                      provenance=_provenance(store, units))


def _timeline(store: OutputStore, summary: RunSummary) -> Timeline | None:
    if not summary.logs:
        return None
    path = store.path(summary.logs.rstrip("/"), TIMELINE_NAME)
    if not store.fs.exists(path):
        return None
    return Timeline.from_json(store.fs.cat_file(path).decode())


def _provenance(store: OutputStore, units: list[CommittedUnit]) -> dict[str, str]:
    """The k2batch.* metadata of the first committed file (every file of an output has the same)."""
    first = next((paths[0] for unit in units for kind in KINDS if (paths := unit.files.get(kind))), None)
    if first is None:
        return {}
    with store.fs.open(store.file_path(first), "rb") as f:  # a table's data file has it too
        metadata = pq.ParquetFile(f).schema_arrow.metadata or {}
    return {k.decode(): v.decode() for k, v in metadata.items() if k.startswith(b"k2batch.")}
