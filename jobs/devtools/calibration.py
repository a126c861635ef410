"""Calibration against gold (`k2batch eval` with task.confidence): is a record with
confidence 0.8 right 80% of the time? Records are put in equal-width confidence buckets;
each bucket's accuracy beside its mean confidence is the reliability diagram, and the
expected calibration error (ECE) is their gap weighted by the bucket's share of records:
ECE = sum over buckets of (rows_b / rows) * |accuracy_b - mean confidence_b|."""

from dataclasses import asdict, dataclass, field

from matplotlib.figure import Figure

BUCKETS = 10


@dataclass
class Bucket:
    low: float
    high: float
    rows: int = 0
    correct: int = 0
    confidence_sum: float = 0.0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.rows if self.rows else None

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.rows if self.rows else None


@dataclass
class Calibration:
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.buckets)

    @property
    def accuracy(self) -> float | None:
        return sum(b.correct for b in self.buckets) / self.rows if self.rows else None

    @property
    def ece(self) -> float | None:
        if not self.rows:
            return None
        return sum(b.rows / self.rows * abs(b.accuracy - b.mean_confidence) for b in self.buckets if b.rows)

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        return cls([Bucket(**{k: b[k] for k in ("low", "high", "rows", "correct", "confidence_sum")}) for b in data["buckets"]])

    def to_dict(self) -> dict:
        return {"rows": self.rows, "accuracy": self.accuracy, "ece": self.ece,
                "buckets": [{**asdict(b), "accuracy": b.accuracy, "mean_confidence": b.mean_confidence}
                            for b in self.buckets]}


def calibrate(scored: list[tuple[float, bool]], buckets: int = BUCKETS) -> Calibration:
    """`scored`: each record's (confidence, whether it matches its gold record)."""
    found = Calibration([Bucket(low=i / buckets, high=(i + 1) / buckets) for i in range(buckets)])
    for confidence, correct in scored:
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"a confidence must be in [0, 1], got {confidence}")
        bucket = found.buckets[min(int(confidence * buckets), buckets - 1)]
        bucket.rows += 1
        bucket.correct += bool(correct)
        bucket.confidence_sum += confidence
    return found


def format_calibration(calibration: Calibration) -> str:
    lines = [f"calibration: {calibration.rows} records with a confidence, ECE "
             + ("-" if calibration.ece is None else f"{calibration.ece:.3f}"),
             f"{'confidence':<12}  {'records':>7}  {'mean conf':>9}  {'accuracy':>8}"]
    for b in calibration.buckets:
        if b.rows:
            lines.append(f"{b.low:.1f}-{b.high:.1f}      {b.rows:>7}  {b.mean_confidence:>9.3f}  {b.accuracy:>8.1%}")
    return "\n".join(lines)


def reliability_figure(calibration: Calibration, title: str = "") -> Figure:
    """Accuracy per confidence bucket against the diagonal of perfect calibration, and
    the records per bucket beneath."""
    figure = Figure(figsize=(5.5, 6.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    filled = [b for b in calibration.buckets if b.rows]
    width = calibration.buckets[0].high - calibration.buckets[0].low if calibration.buckets else 0.1
    top.bar([b.low for b in filled], [b.accuracy for b in filled], width=width, align="edge", color="tab:blue",
            alpha=0.8, edgecolor="white", label="accuracy")
    top.plot([0, 1], [0, 1], linestyle="--", color="tab:gray", label="perfect calibration")
    top.plot([b.mean_confidence for b in filled], [b.accuracy for b in filled], "o", color="tab:red",
             label="mean confidence")
    ece = "-" if calibration.ece is None else f"{calibration.ece:.3f}"
    top.set(title=f"{title + ': ' if title else ''}reliability (ECE {ece})", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    top.legend(loc="upper left", fontsize="small")
    bottom.bar([b.low for b in calibration.buckets], [b.rows for b in calibration.buckets], width=width, align="edge",
               color="tab:gray")
    bottom.set(xlabel="confidence", ylabel="records")
    return figure
