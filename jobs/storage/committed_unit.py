"""A committed unit: its manifest entry (`_manifest/<key>.json`), the commit point of its
files. It carries what the run's finish needs, so that summary.json, the label
distribution and the report come from the manifest and never from reading the files back."""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from operators.usage import USAGE_FIELDS, Usage
from operators.written_file import WrittenFile

# Counts keyed by integers (attempts, token buckets); JSON keys are strings.
_INT_KEYED = ("attempts", "prompt_token_buckets", "completion_token_buckets")


@dataclass
class CommittedUnit:
    key: str
    input_path: str
    job_fingerprint: str
    rows: int
    records: int = 0
    rejects: int = 0
    usage: Usage = Usage()
    reasons: dict[str, int] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> paths relative to the root
    # The unit's range and its file's identity; None in entries of whole-file units,
    # written before units were row ranges.
    start: int | None = None
    input_size: int | None = None
    input_version: str | None = None
    # The fingerprints whose results the unit holds and that may resume it: the one that
    # wrote it, then each `--retry-rejects` spec (jobs/driver/retry_rejects.py). Empty in entries
    # written before retries: then just `job_fingerprint`.
    fingerprints: list[str] = field(default_factory=list)
    # Rows by the fingerprint that produced them: {fingerprint: {"records": n, "rejects": n}}.
    fingerprint_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    deduplicated_rows: int = 0  # rows given a duplicate prompt's answer (0 in manifests before it)
    # Label mode: records by label. None in entries written before labels were counted
    # (the label distribution then reads those units' records: jobs/driver/summary.py).
    labels: dict[str, int] | None = None
    attempts: dict[int, int] = field(default_factory=dict)  # rows by attempts taken
    prompt_token_buckets: dict[int, int] = field(default_factory=dict)  # records by operators/written_file.token_bucket
    completion_token_buckets: dict[int, int] = field(default_factory=dict)

    @property
    def whole_file(self) -> bool:
        """An entry of the one-unit-per-file layout: the whole of its input file."""
        return self.start is None

    @property
    def location(self) -> str:
        """The unit as a user finds it: its file and rows."""
        return self.input_path if self.start is None else f"{self.input_path} rows {self.start}-{self.start + self.rows}"

    @property
    def lineage(self) -> list[str]:
        return self.fingerprints or [self.job_fingerprint]

    def rows_by_fingerprint(self) -> dict[str, dict[str, int]]:
        return self.fingerprint_rows or {self.job_fingerprint: {"records": self.records, "rejects": self.rejects}}

    def add(self, written: WrittenFile) -> None:
        """Count one file the writer wrote of this unit."""
        setattr(self, written.kind, getattr(self, written.kind) + written.rows)
        self.usage += written.usage
        self.deduplicated_rows += written.deduplicated
        for name in ("reasons", "attempts", "prompt_token_buckets", "completion_token_buckets"):
            setattr(self, name, dict(Counter(getattr(self, name)) + Counter(getattr(written, name))))
        if written.labels or self.labels is not None:
            self.labels = dict(Counter(self.labels or {}) + Counter(written.labels))

    def to_json(self) -> str:
        data = asdict(self)
        data.update(data.pop("usage"))  # the token counts stay flat in the entry, as summary.json has them
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CommittedUnit":
        data = json.loads(text)
        usage = Usage(**{name: data.pop(name, 0) for name in USAGE_FIELDS})
        for name in _INT_KEYED:
            data[name] = {int(k): v for k, v in data.get(name, {}).items()}
        return cls(usage=usage, **data)
