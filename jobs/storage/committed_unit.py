"""A committed unit: its manifest entry (`_manifest/<key>.json`), the commit point of its
files. It carries what the run's finish needs, so that summary.json, the label
distribution and the report come from the manifest and never from reading the files back."""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from operators.usage import USAGE_FIELDS, Usage
from operators.written_file import WrittenFile

MANIFEST_VERSION = 2  # entries of earlier layouts are upgraded once (jobs/driver/manifest_upgrade.py)
# Counts keyed by integers (attempts, token buckets); JSON keys are strings.
_INT_KEYED = ("attempts", "prompt_token_buckets", "completion_token_buckets", "confidence_buckets")


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
    # The unit's range and its input file's identity (size, ETag or mtime); no identity:
    # an upgraded entry whose file had changed, never reused.
    start: int | None = None
    input_size: int | None = None
    input_version: str | None = None
    # The fingerprints whose results the unit holds and that may resume it: the one that
    # wrote it, then each `--retry-rejects` spec (jobs/driver/retry_rejects.py).
    fingerprints: list[str] = field(default_factory=list)
    # Rows by the fingerprint that produced them: {fingerprint: {"records": n, "rejects": n}}.
    fingerprint_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    deduplicated_rows: int = 0  # rows given a duplicate prompt's answer
    labels: dict[str, int] | None = None  # label mode: records by label
    version: int = MANIFEST_VERSION
    attempts: dict[int, int] = field(default_factory=dict)  # rows by attempts taken
    prompt_token_buckets: dict[int, int] = field(default_factory=dict)  # records by operators/written_file.token_bucket
    completion_token_buckets: dict[int, int] = field(default_factory=dict)
    table_commit: int = 0  # output.table: the unit's commits to the tables so far (jobs/storage/tables/)
    # task.confidence: records by operators/record_confidence.confidence_bucket of their _confidence
    confidence_buckets: dict[int, int] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """The unit as a user finds it: its file and rows."""
        return f"{self.input_path} rows {self.start}-{self.start + self.rows}"

    def add(self, written: WrittenFile) -> None:
        """Count one file the writer wrote of this unit."""
        setattr(self, written.kind, getattr(self, written.kind) + written.rows)
        self.usage += written.usage
        self.deduplicated_rows += written.deduplicated
        for name in ("reasons", *_INT_KEYED):
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
        data.setdefault("version", 1)  # the previous layout's entries had none
        usage = Usage(**{name: data.pop(name, 0) for name in USAGE_FIELDS})
        for name in _INT_KEYED:
            data[name] = {int(k): v for k, v in data.get(name, {}).items()}
        return cls(usage=usage, **data)
