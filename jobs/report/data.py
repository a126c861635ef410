"""What a job report shows, read from a finished output (local or any fsspec URL): the
summary, the manifest's units, the last run's timeline, the rows' attempts and token
counts, and the provenance the Parquet files carry."""

import json
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from jobs.watch.run_files import TIMELINE_NAME
from jobs.watch.timeline import Timeline
from jobs.storage.committed import committed_files
from jobs.storage.filesystem import filesystem_for
from jobs.storage.output_store import CommittedUnit, OutputStore
from jobs.storage.redact import redact


class ReportError(ValueError):
    """The URI holds no finished k2batch output."""


@dataclass
class ReportData:
    uri: str  # as shown on the page, secrets masked
    summary: dict
    units: list[CommittedUnit]
    timeline: Timeline | None  # None: an output written before runs kept one
    attempts: list[int] = field(default_factory=list)  # every row, records and rejects
    prompt_tokens: list[int] = field(default_factory=list)  # per record
    completion_tokens: list[int] = field(default_factory=list)  # per record
    provenance: dict[str, str] = field(default_factory=dict)  # the files' k2batch.* Parquet metadata

    @property
    def label_distribution(self) -> dict[str, int] | None:
        return self.summary.get("label_distribution")


def load_report_data(uri: str, storage_options: dict | None = None, *, summary: dict | None = None,
                     timeline: Timeline | None = None) -> ReportData:
    """`summary` and `timeline`: a run's own, not yet written (else read from the output)."""
    options = storage_options or {}
    fs, root = filesystem_for(uri, options)
    store = OutputStore(fs, root)
    if summary is None:
        summary_path = store.path("summary.json")
        if not fs.exists(summary_path):
            raise ReportError(f"no summary.json under {redact(store.uri)}: not the output of a finished k2batch run")
        summary = json.loads(fs.cat_file(summary_path))
    data = ReportData(uri=redact(store.uri), summary=summary, units=sorted(store.committed().values(), key=lambda u: u.input_path),
                      timeline=timeline or _timeline(store, summary))
    for kind in ("records", "rejects"):
        for path in committed_files(uri, kind, options):
            with fs.open(path, "rb") as f:
                parquet = pq.ParquetFile(f)
                if not data.provenance:
                    metadata = parquet.schema_arrow.metadata or {}
                    data.provenance = {k.decode(): v.decode() for k, v in metadata.items() if k.startswith(b"k2batch.")}
                names = set(parquet.schema_arrow.names)
                wanted = [c for c in ("_attempts", "_prompt_tokens", "_completion_tokens") if c in names]
                table = parquet.read(columns=wanted)
            if "_attempts" in names:
                data.attempts += table.column("_attempts").to_pylist()
            if kind == "records" and {"_prompt_tokens", "_completion_tokens"} <= names:
                data.prompt_tokens += table.column("_prompt_tokens").to_pylist()
                data.completion_tokens += table.column("_completion_tokens").to_pylist()
    return data


def _timeline(store: OutputStore, summary: dict) -> Timeline | None:
    folder = summary.get("logs")
    if not folder:
        return None
    path = store.path(folder.rstrip("/"), TIMELINE_NAME)
    if not store.fs.exists(path):
        return None
    return Timeline.from_json(store.fs.cat_file(path).decode())
