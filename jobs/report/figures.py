"""The report's plots, drawn with matplotlib's object API (no pyplot state, no display
needed). Each panel draws one view on an Axes; the page groups them by section
(jobs/report/page.py) and the notebook's `result.plot()` shows all of them in one
figure (`all_panels`)."""

from collections import Counter
from typing import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from jobs.watch.timeline import Sample
from jobs.report.data import ReportData
from operators.record_confidence import CONFIDENCE_BUCKETS
from operators.written_file import bucket_floor

GREEN, RED, BLUE, GREY = "tab:green", "tab:red", "tab:blue", "tab:gray"
MAX_BINS = 40
CONFIDENCE_SHOWN = 20  # bars of the confidence histogram


def _empty(ax: Axes, title: str, why: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", wrap=True, color=GREY, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _rate(ax: Axes, data: ReportData, attr: str, title: str, unit: str, color: str) -> None:
    timeline = data.timeline
    if timeline is None or not timeline.samples:
        why = "not recorded (an output of an earlier k2batch)" if timeline is None else "no rows ran in the last run"
        return _empty(ax, title, why)
    end = max(timeline.finished_s or 0.0, timeline.samples[-1].t)
    width = max(end / MAX_BINS, 1.0)
    bins = int(end // width) + 1
    totals = [0.0] * bins
    last: Sample | None = None
    for sample in timeline.samples:
        before = getattr(last, attr) if last else 0
        totals[min(int(sample.t // width), bins - 1)] += getattr(sample, attr) - before
        last = sample
    ax.stairs([t / width for t in totals], [i * width for i in range(bins + 1)], fill=True, color=color, alpha=0.7)
    if timeline.engine_ready_s is not None:
        ax.axvline(timeline.engine_ready_s, color=GREY, linestyle="--", label="engine ready")
        ax.legend(loc="upper left", fontsize="small")
    ax.set(title=title, xlabel="seconds since the run started", ylabel=unit, xlim=(0, bins * width))


def rows_per_second(ax: Axes, data: ReportData) -> None:
    _rate(ax, data, "rows", "rows written per second", "rows/s", BLUE)


def tokens_per_second(ax: Axes, data: ReportData) -> None:
    _rate(ax, data, "completion_tokens", "output tokens per second", "tokens/s", BLUE)


def records_vs_rejects(ax: Axes, data: ReportData) -> None:
    s = data.summary
    bars = ax.bar(["records", "rejects"], [s.records, s.rejects], color=[GREEN, RED])
    ax.bar_label(bars)
    ax.set(title=f"records vs rejects ({s.input_rows} input rows)", ylabel="rows")


def reject_reasons(ax: Axes, data: ReportData) -> None:
    reasons = sorted(data.summary.reject_reasons.items(), key=lambda item: item[1])
    if not reasons:
        return _empty(ax, "reject reasons", "no rejects")
    bars = ax.barh([r for r, _ in reasons], [c for _, c in reasons], color=RED)
    ax.bar_label(bars)
    ax.set(title="reject reasons", xlabel="rows")


def _counts(ax: Axes, counts: Counter, title: str, xlabel: str, color: str) -> None:
    bars = ax.bar(list(counts), list(counts.values()), color=color)
    ax.bar_label(bars)
    ax.set(title=title, xlabel=xlabel, ylabel="rows", xticks=sorted(counts))


def attempts_per_row(ax: Axes, data: ReportData) -> None:
    if not data.attempts:
        return _empty(ax, "attempts per row", "no rows")
    _counts(ax, data.attempts, "attempts per row (0: rejected before the engine)", "attempts", BLUE)


def _histogram(ax: Axes, buckets: Counter, title: str) -> None:
    """Records by log-scale token bucket (operators/written_file.py), each bar its bucket's range."""
    if not buckets:
        return _empty(ax, title, "no records")
    edges = sorted(buckets)
    ax.bar([bucket_floor(b) for b in edges], [buckets[b] for b in edges],
           width=[bucket_floor(b + 1) - bucket_floor(b) for b in edges], align="edge", color=BLUE, alpha=0.8)
    ax.set(title=title, xlabel="tokens", ylabel="records")


def prompt_tokens(ax: Axes, data: ReportData) -> None:
    _histogram(ax, data.prompt_token_buckets, "prompt tokens per record (every attempt)")


def completion_tokens(ax: Axes, data: ReportData) -> None:
    _histogram(ax, data.completion_token_buckets, "completion tokens per record (every attempt)")


def prefix_cache(ax: Axes, data: ReportData) -> None:
    s = data.summary
    title = "prefix-cache hit rate"
    if not s.prompt_tokens:
        return _empty(ax, title, "no prompt reached the engine")
    overall = s.cached_prompt_tokens / s.prompt_tokens
    rates = [100 * u.usage.cached_prompt_tokens / u.usage.prompt_tokens for u in data.units if u.usage.prompt_tokens]
    if len(rates) <= 30:
        ax.bar(range(len(rates)), rates, color=BLUE)
        ax.axhline(100 * overall, color=GREY, linestyle="--")
        ax.set(xlabel="unit (input file, in path order)", ylabel="% of prompt tokens", xticks=range(len(rates)))
    else:
        ax.hist(rates, bins=20, color=BLUE)
        ax.set(xlabel="hit rate of a unit (%)", ylabel="units")
    ax.set_title(f"{title}: {overall:.0%} of prompt tokens")


def labels(ax: Axes, data: ReportData) -> None:
    distribution = data.label_distribution or {}
    bars = ax.bar(list(distribution), list(distribution.values()), color=BLUE)
    ax.bar_label(bars)
    ax.set(title="label distribution", ylabel="records")
    ax.tick_params(axis="x", labelrotation=30)


def confidence(ax: Axes, data: ReportData) -> None:
    """task.confidence: records by _confidence (the writer's 100 buckets, shown in 20), and
    the review threshold with the records below it."""
    summary = data.summary.confidence
    buckets = data.confidence_buckets
    if summary is None or not buckets:
        return _empty(ax, "confidence", "no record has a confidence")
    shown = Counter()
    for bucket, rows in buckets.items():
        shown[bucket * CONFIDENCE_SHOWN // CONFIDENCE_BUCKETS] += rows
    width = 1 / CONFIDENCE_SHOWN
    ax.bar([b * width for b in sorted(shown)], [shown[b] for b in sorted(shown)], width=width, align="edge",
           color=BLUE, alpha=0.8, edgecolor="white")
    ax.axvline(summary.review_below, color=RED, linestyle="--",
               label=f"review below {summary.review_below:g}: {summary.below_review} records")
    ax.legend(loc="upper left", fontsize="small")
    ax.set(title=f"confidence of {summary.records} records (median {summary.quantiles.get('p50', 0):.2f})",
           xlabel="_confidence", ylabel="records", xlim=(0, 1))


Panel = Callable[[Axes, ReportData], None]
# The page's sections that hold plots, in page order: (section id, heading, panels).
SECTIONS: list[tuple[str, str, list[Panel]]] = [
    ("throughput", "Throughput over time", [rows_per_second, tokens_per_second]),
    ("outcomes", "Records and rejects", [records_vs_rejects, reject_reasons]),
    ("attempts", "Attempts per row", [attempts_per_row]),
    ("tokens", "Tokens", [prompt_tokens, completion_tokens]),
    ("prefix-cache", "Prefix cache", [prefix_cache]),
    ("labels", "Labels", [labels]),
    ("confidence", "Confidence", [confidence]),
]


def sections(data: ReportData) -> list[tuple[str, str, list[Panel]]]:
    """The plotted sections this output has (labels only for a label job, confidence only with task.confidence)."""
    present = {"labels": data.label_distribution is not None, "confidence": data.summary.confidence is not None}
    return [s for s in SECTIONS if present.get(s[0], True)]


def section_figure(panels: list[Panel], data: ReportData) -> Figure:
    figure = Figure(figsize=(5.5 * len(panels), 3.6), layout="constrained")
    for ax, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        panel(ax, data)
    return figure


def all_panels(data: ReportData) -> Figure:
    """Every panel of the page in one figure (the notebook's `result.plot()`)."""
    panels = [panel for _, _, group in sections(data) for panel in group]
    columns = 3
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(5.5 * columns, 3.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        panel(ax, data)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return figure
