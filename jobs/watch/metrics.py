"""A job's counters as Ray metrics (`ray.util.metrics`), where the Ray dashboard and any
Prometheus that scrapes a Ray cluster see them beside vLLM's and Ray's own. Ray exports
each name with a `ray_` prefix (a counter also gets `_total`), every series tagged with
the job's name:

  ray_k2batch_rows_total, ray_k2batch_records_total                      rows written
  ray_k2batch_rejects_total{reason}                                      rejects by reason code
  ray_k2batch_attempts_total, ray_k2batch_row_attempts (histogram)       generations, per row
  ray_k2batch_prompt_tokens_total, ray_k2batch_completion_tokens_total,
  ray_k2batch_cached_prompt_tokens_total                                 tokens (cached: prefix-cache hits)
  ray_k2batch_unit_seconds (histogram)           a unit's first row in an engine to its commit
  ray_k2batch_unit_commit_seconds (histogram)    publishing a unit's files and manifest entry

They are recorded by the driver (from the writer's reports and the engines' board), so a
run's counts are exported once, whatever the number of engines. The rows and tokens are
those written; the attempts are every generation: a row that a replica answered but died
before writing (its actor restarted, its node lost) is answered again and counted again.
"""

from ray.util.metrics import Counter, Histogram

from operators.usage import USAGE_FIELDS
from operators.written_file import WrittenFile

ATTEMPT_BOUNDARIES = [1, 2, 3, 4, 5, 6, 8, 10]
SECONDS_BOUNDARIES = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600]
COMMIT_BOUNDARIES = [0.01, 0.05, 0.1, 0.5, 1, 5, 30]


class JobMetrics:
    def __init__(self, job: str):
        self.tags = {"job": job}
        keys = ("job",)
        self.rows = Counter("k2batch_rows", "Input rows written, as records or rejects", keys)
        self.records = Counter("k2batch_records", "Rows written as schema-valid records", keys)
        self.rejects = Counter("k2batch_rejects", "Rows written as rejects, by reason code", ("job", "reason"))
        self.tokens = {name: Counter(f"k2batch_{name}", f"{name.replace('_', ' ').capitalize()} of written rows", keys)
                       for name in USAGE_FIELDS}
        self.attempts = Counter("k2batch_attempts", "Generations, every attempt of every row", keys)
        self.row_attempts = Histogram("k2batch_row_attempts", "Attempts per row answered", ATTEMPT_BOUNDARIES, keys)
        self.unit_seconds = Histogram("k2batch_unit_seconds", "From a unit's first row in an engine to its commit",
                                      SECONDS_BOUNDARIES, keys)
        self.commit_seconds = Histogram("k2batch_unit_commit_seconds", "Publishing a unit's files and manifest entry",
                                        COMMIT_BOUNDARIES, keys)

    def written(self, report: WrittenFile) -> None:
        if report.rows:
            self.rows.inc(report.rows, self.tags)
        if report.kind == "records" and report.rows:
            self.records.inc(report.rows, self.tags)
        for reason, count in report.reasons.items():
            self.rejects.inc(count, {**self.tags, "reason": reason})
        for name, count in report.usage.as_dict().items():
            if count:
                self.tokens[name].inc(count, self.tags)

    def answered(self, attempts: dict[int, int]) -> None:
        """Rows newly answered by the engines, as {attempts: rows}."""
        total = sum(count * rows for count, rows in attempts.items())
        if total:
            self.attempts.inc(total, self.tags)
        for count, rows in attempts.items():
            for _ in range(rows):
                self.row_attempts.observe(count, self.tags)

    def committed(self, commit_seconds: float, unit_seconds: float | None) -> None:
        self.commit_seconds.observe(commit_seconds, self.tags)
        if unit_seconds is not None:
            self.unit_seconds.observe(unit_seconds, self.tags)
