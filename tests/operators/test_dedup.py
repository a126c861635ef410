"""The answer cache: a prompt in flight or recently answered is computed once; memory
stays within its capacity; a failure reaches every row that waited for it."""

import asyncio

import pytest

from operators.dedup import AnswerCache, prompt_key


def test_duplicates_in_flight_and_recent_are_computed_once():
    calls = []

    async def compute(value):
        calls.append(value)
        await asyncio.sleep(0.01)
        return {"answer": value}

    async def main():
        cache = AnswerCache(capacity=2)
        keys = [prompt_key([1, 2, 3]), prompt_key([1, 2, 3]), prompt_key([1, 2, 4])]
        together = await asyncio.gather(*(cache.answer(k, lambda k=k: compute(k)) for k in keys))
        later = await cache.answer(keys[0], lambda: compute("again"))
        return cache, together, later

    cache, together, later = asyncio.run(main())
    assert len(calls) == 2 and together[0] == (together[1][0], False) and together[1][1] is True
    assert together[2][1] is False and later == (together[0][0], True)
    assert not cache.in_flight and len(cache.recent) <= 2


def test_the_recent_answers_are_bounded_least_recently_used_first():
    async def main():
        cache = AnswerCache(capacity=3)
        for n in range(10):
            await cache.answer(prompt_key([n]), lambda n=n: asyncio.sleep(0, result=n))
        return cache

    cache = asyncio.run(main())
    assert list(cache.recent.values()) == [7, 8, 9]


def test_a_failure_reaches_the_duplicates_that_waited_and_is_not_kept():
    async def failing():
        await asyncio.sleep(0.01)
        raise RuntimeError("engine died")

    async def main():
        cache = AnswerCache()
        key = prompt_key([5])
        results = await asyncio.gather(cache.answer(key, failing), cache.answer(key, failing), return_exceptions=True)
        return cache, results

    cache, results = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in results) and not cache.recent and not cache.in_flight


def test_the_key_tells_prompts_and_their_extra_input_apart():
    assert prompt_key([1, 23]) != prompt_key([12, 3]) and prompt_key([1], "a") != prompt_key([1], "b")


def test_the_key_is_the_same_for_the_ids_as_a_list_or_as_the_prepare_stages_array():
    import numpy as np

    ids = [5, 70000, 3]
    assert prompt_key(ids, "x") == prompt_key(np.asarray(ids, dtype=np.int32), "x") != prompt_key(ids[:2], "x")
    assert prompt_key([1, 2], "") != prompt_key([1], "\x02")  # the ids' count delimits them from the extra input
