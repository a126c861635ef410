"""timeline.json: what `k2batch report` plots comes back from the file as it was recorded."""

import json

from jobs.watch.progress import RunCounts
from jobs.watch.timeline import VERSION, Timeline, UnitTiming
from operators.usage import Usage


def counts(rows: int, records: int) -> RunCounts:
    """The run's cumulative counts as the progress keeps them (jobs/watch/progress.py)."""
    return RunCounts(rows=rows, records=records, rejects=rows - records, usage=Usage(100 * rows, 20 * rows, 80 * rows))


def recorded() -> Timeline:
    timeline = Timeline(run_id="news[ds=1]", started_at="2026-11-26T08:00:00+00:00")
    timeline.sample(0.12345, counts(0, 0))
    timeline.sample(4.5, counts(12, 11))
    timeline.units.append(UnitTiming(unit="in/a.parquet rows 0-12", rows=12, records=11, rejects=1, committed_s=4.5,
                                     first_taken_s=1.25, commit_seconds=0.2))
    timeline.units.append(UnitTiming(unit="in/b.parquet rows 0-3", rows=3, records=0, rejects=3, committed_s=4.6,
                                     first_taken_s=None, commit_seconds=0.1))
    timeline.engine_ready_s, timeline.finished_s = 1.0, 4.7
    return timeline


def test_a_sample_holds_the_counts_at_its_time():
    first, second = recorded().samples
    assert first.t == 0.123 and (first.rows, first.records) == (0, 0)
    assert (second.rows, second.records, second.rejects, second.prompt_tokens, second.completion_tokens,
            second.cached_prompt_tokens) == (12, 11, 1, 1200, 240, 960)


def test_a_timeline_reads_back_as_written():
    timeline = recorded()
    text = timeline.to_json()
    assert json.loads(text)["version"] == VERSION
    assert Timeline.from_json(text) == timeline


def test_a_unit_is_timed_from_its_first_row_in_an_engine_to_its_commit():
    timed, never_taken = recorded().units
    assert timed.seconds == timed.committed_s - timed.first_taken_s > 0
    assert never_taken.seconds is None, "rows that never reached an engine (empty input, say) have no engine time"


def test_a_run_that_recorded_nothing_reads_back_empty():
    text = json.dumps({"version": VERSION, "run_id": "r", "started_at": "2026-11-26T08:00:00+00:00"})
    timeline = Timeline.from_json(text)
    assert (timeline.samples, timeline.units, timeline.engine_ready_s, timeline.stalled) == ([], [], None, None)
