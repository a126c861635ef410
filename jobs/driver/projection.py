"""What a sample's answers say about the whole input: each projection a value and a range.

Totals are the input's rows times the sample's mean per row, the range a 95% interval of
that mean (normal approximation, with the finite-population correction, so that a sample
of every row has no spread). Reject counts use Wilson's interval of the sample's share.
Engine time is taken as proportional to the tokens generated (a decoder's time is its
steps): seconds per completion token at the job's rows in flight, times the projected
completion tokens, so its range is theirs.
"""

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict

Z95 = 1.96


class Range(BaseModel):
    """A projection as an estimate reports it: the value and its 95% range."""

    model_config = ConfigDict(extra="forbid")
    value: float
    low: float
    high: float


class Measured(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_engine_seconds: float
    engine_start_seconds: float


class Projections(BaseModel):
    """The whole input's projections from a sample (`k2batch estimate`'s figures)."""

    model_config = ConfigDict(extra="forbid")
    input_rows: int
    sample_rows: int
    prompt_tokens: Range
    completion_tokens: Range
    attempts_per_row: Range
    rejects: Range
    rejects_by_reason: dict[str, Range]
    engine_seconds: Range
    rows_per_second_per_replica: Range
    replica_hours: Range
    gpu_hours: Range
    wall_seconds: Range
    replicas: int
    tensor_parallel_size: int
    measured: Measured


@dataclass(frozen=True)
class Projection:
    value: float
    low: float
    high: float

    def scaled(self, factor: float) -> "Projection":
        return Projection(self.value * factor, self.low * factor, self.high * factor)

    def rounded(self, digits: int = 3) -> Range:
        return Range(**{k: round(v, digits) for k, v in asdict(self).items()})


@dataclass(frozen=True)
class SampleAnswers:
    """Per sampled row: its tokens, attempts and reject reason (None: a record)."""

    prompt_tokens: list[int]
    completion_tokens: list[int]
    attempts: list[int]
    reasons: list[str | None]
    engine_seconds: float  # the sample's time in the engine, first request to last answer
    engine_start_seconds: float  # one replica's start, model load included


def total(values: list[float], population: int) -> Projection:
    """`population` rows' total, from a sample's per-row values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2 or n >= population:
        return Projection(mean * population, mean * population, mean * population)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    margin = Z95 * sd / math.sqrt(n) * math.sqrt((population - n) / (population - 1))
    return Projection(mean, max(0.0, mean - margin), mean + margin).scaled(population)


def share(count: int, n: int, population: int) -> Projection:
    """`population` rows' count of something `count` of `n` sampled rows are (Wilson's interval)."""
    p = count / n
    denominator = 1 + Z95 ** 2 / n
    centre = (p + Z95 ** 2 / (2 * n)) / denominator
    margin = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / denominator
    return Projection(p, max(0.0, centre - margin), min(1.0, centre + margin)).scaled(population)


def project(sample: SampleAnswers, *, input_rows: int, replicas: int, tensor_parallel_size: int) -> Projections:
    """The whole input's projections."""
    n = len(sample.attempts)
    completion = total(sample.completion_tokens, input_rows)
    per_token = sample.engine_seconds / max(1, sum(sample.completion_tokens))
    engine = completion.scaled(per_token)  # one replica's busy seconds for the whole input
    rows_per_second = Projection(input_rows / engine.value, input_rows / engine.high, input_rows / engine.low) \
        if engine.low > 0 else Projection(0.0, 0.0, 0.0)
    starts = replicas * sample.engine_start_seconds
    replica_hours = Projection((engine.value + starts) / 3600, (engine.low + starts) / 3600, (engine.high + starts) / 3600)
    wall = Projection(*(sample.engine_start_seconds + seconds / replicas for seconds in (engine.value, engine.low, engine.high)))
    reasons = Counter(r for r in sample.reasons if r is not None)
    return Projections(
        input_rows=input_rows,
        sample_rows=n,
        prompt_tokens=total(sample.prompt_tokens, input_rows).rounded(0),
        completion_tokens=completion.rounded(0),
        attempts_per_row=total(sample.attempts, input_rows).scaled(1 / input_rows).rounded(),
        rejects=share(sum(reasons.values()), n, input_rows).rounded(1),
        rejects_by_reason={reason: share(count, n, input_rows).rounded(1) for reason, count in sorted(reasons.items())},
        engine_seconds=engine.rounded(1),
        rows_per_second_per_replica=rows_per_second.rounded(),
        replica_hours=replica_hours.rounded(4),
        gpu_hours=replica_hours.scaled(tensor_parallel_size).rounded(4),
        wall_seconds=wall.rounded(1),
        replicas=replicas,
        tensor_parallel_size=tensor_parallel_size,
        measured=Measured(sample_engine_seconds=round(sample.engine_seconds, 3),
                          engine_start_seconds=round(sample.engine_start_seconds, 3)),
    )


class Estimate(Projections):
    """`k2batch estimate`'s result: the projections, and the job and sample they come from."""

    name: str
    rows_in_flight: int
    seed: int
    fingerprints: dict[str, str]

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent, sort_keys=True)

    def lines(self) -> list[str]:
        """The projections as a user reads them on a terminal."""
        def line(label: str, p: Range, unit: str = "", digits: int = 0) -> str:
            return f"  {label:<28} {p.value:>12,.{digits}f}{unit}  ({p.low:,.{digits}f} - {p.high:,.{digits}f})"

        lines = [f"{self.name}: projected from {self.sample_rows} of {self.input_rows} rows "
                 f"({self.rows_in_flight} in flight per replica, {self.replicas} replica(s) of "
                 f"tensor_parallel_size {self.tensor_parallel_size}); value (95% range)",
                 line("prompt tokens", self.prompt_tokens), line("completion tokens", self.completion_tokens),
                 line("attempts per row", self.attempts_per_row, digits=2), line("rejects", self.rejects)]
        lines += [line(f"  {reason}", p) for reason, p in self.rejects_by_reason.items()]
        lines += [line("rows/s per replica", self.rows_per_second_per_replica, digits=2),
                  line("engine time", self.engine_seconds, " s", 1),
                  line("replica-hours", self.replica_hours, digits=4), line("GPU-hours", self.gpu_hours, digits=4),
                  line("wall time", self.wall_seconds, " s", 1)]
        if self.sample_rows < min(self.rows_in_flight, self.input_rows):
            lines.append(f"  note: the sample is smaller than the {self.rows_in_flight} rows a run keeps in flight per "
                         "replica, so the engine ran below full load: engine time and hours are likely overstated "
                         f"(use --sample {self.rows_in_flight} or more)")
        return lines
