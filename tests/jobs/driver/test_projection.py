"""Projections from a sample: totals scale by the input's rows, ranges shrink with the
sample and vanish when every row is sampled, engine time follows generated tokens."""

import pytest

from jobs.driver.projection import SampleAnswers, project, share, total


def answers(completion: list[int], reasons: list[str | None], engine_seconds: float = 10.0) -> SampleAnswers:
    n = len(completion)
    return SampleAnswers(prompt_tokens=[100] * n, completion_tokens=completion, attempts=[1] * n, reasons=reasons,
                         engine_seconds=engine_seconds, engine_start_seconds=30.0)


def test_a_total_is_rows_times_the_mean_with_a_range_that_narrows_and_vanishes():
    small, large = total([80, 120] * 5, 1000), total([80, 120] * 50, 1000)
    assert small.value == large.value == 100_000
    assert small.low < large.low < 100_000 < large.high < small.high
    every = total([80, 120] * 5, 10)
    assert every.low == every.value == every.high == 1000


def test_reject_counts_use_wilsons_interval_which_stays_within_zero_and_all_rows():
    none, some = share(0, 20, 1000), share(5, 20, 1000)
    assert none.value == 0 and none.low == 0 and 0 < none.high < 200
    assert some.value == 250 and some.low < 250 < some.high <= 1000


def test_engine_time_wall_time_and_gpu_hours_follow_from_the_sample():
    result = project(answers([100] * 10, [None] * 8 + ["truncated"] * 2, engine_seconds=10.0),
                     input_rows=100, replicas=2, tensor_parallel_size=4)
    assert result.completion_tokens.value == 10_000
    assert result.engine_seconds.value == pytest.approx(100.0)  # 10 s for 1,000 tokens, times 10
    assert result.rows_per_second_per_replica.value == pytest.approx(1.0)
    assert result.wall_seconds.value == pytest.approx(30 + 100 / 2)
    assert result.replica_hours.value == pytest.approx((100 + 2 * 30) / 3600, abs=1e-4)
    assert result.gpu_hours.value == pytest.approx(4 * (100 + 2 * 30) / 3600, abs=1e-4)
    assert result.rejects_by_reason["truncated"].value == 20 and result.rejects.value == 20
