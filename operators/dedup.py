"""Identical first-attempt prompts answered once per engine replica.

Under one task (one sampling and constraint, set by `K2Engine.configure`), a row whose
prompt is token for token one already in flight waits for that row's answer; one answered
recently gets it at once. Either way the duplicate row gets the whole outcome (record or
reject, attempts) and spends no tokens. Bounded memory: the rows in flight (bounded by
the engine stage's depth) and at most `capacity` recent answers, least recently used
dropped first, keyed by a digest of the prompt rather than the prompt itself.
"""

import asyncio
import hashlib
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import numpy as np

DEFAULT_CAPACITY = 4096


def prompt_key(prompt_ids, extra: str = "") -> bytes:
    """The identity of a first-attempt prompt (token ids: a list or an array) and of what
    else the row's answer depends on. The ids are hashed as 64-bit integers, their count
    first: joining ~900 ids as text cost about 80 us a row in the engine actor, which
    a label answer of a few tokens makes a visible share of a row's time."""
    ids = np.asarray(prompt_ids, dtype=np.int64)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(len(ids).to_bytes(8, "little"))
    digest.update(ids.tobytes())
    digest.update(extra.encode())
    return digest.digest()


class AnswerCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.in_flight: dict[bytes, asyncio.Future] = {}
        self.recent: OrderedDict[bytes, Any] = OrderedDict()

    async def answer(self, key: bytes, compute: Callable[[], Awaitable[Any]]) -> tuple[Any, bool]:
        """The answer for `key` and whether it was another row's (True: nothing computed)."""
        if key in self.recent:
            self.recent.move_to_end(key)
            return self.recent[key], True
        if key in self.in_flight:
            return await asyncio.shield(self.in_flight[key]), True
        future = asyncio.ensure_future(compute())
        self.in_flight[key] = future
        try:
            result = await future
        finally:
            del self.in_flight[key]
        self.recent[key] = result
        if len(self.recent) > self.capacity:
            self.recent.popitem(last=False)
        return result, False
