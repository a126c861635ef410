"""What a run recorded over time, for `k2batch report`: its cumulative counts at each
writer report, when the first engine was ready, and each unit's timing. Written as
`timeline.json` in the run's folder (jobs/watch/run_files.py); outputs written before
it existed have none, and the report says so."""

import json
from dataclasses import asdict, dataclass, field

from jobs.watch.progress import RunCounts

VERSION = 1


@dataclass
class Sample:
    """Cumulative counts of this run, `t` seconds after it started."""

    t: float
    rows: int
    records: int
    rejects: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int


@dataclass
class UnitTiming:
    unit: str  # its file and rows (Unit.location)
    rows: int
    records: int
    rejects: int
    committed_s: float  # after the run started
    first_taken_s: float | None  # when an engine first took one of its rows; None if no row reached an engine
    commit_seconds: float  # publishing its files and writing its manifest entry

    @property
    def seconds(self) -> float | None:
        """From its first row in an engine to its commit."""
        return None if self.first_taken_s is None else self.committed_s - self.first_taken_s


@dataclass
class Timeline:
    run_id: str
    started_at: str  # ISO 8601, UTC
    samples: list[Sample] = field(default_factory=list)
    units: list[UnitTiming] = field(default_factory=list)
    engine_ready_s: float | None = None
    finished_s: float | None = None
    stalled: str | None = None  # the stall guard's message, if it stopped the run

    def sample(self, t: float, counts: RunCounts) -> None:
        self.samples.append(Sample(t=round(t, 3), rows=counts.rows, records=counts.records, rejects=counts.rejects,
                                   **counts.usage.as_dict()))

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **asdict(self)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Timeline":
        data = json.loads(text)
        data.pop("version", None)
        data["samples"] = [Sample(**s) for s in data.get("samples", [])]
        data["units"] = [UnitTiming(**u) for u in data.get("units", [])]
        return cls(**data)
