"""K2's tag mask as the engine's logits processor: each request's named ids are -inf in
its own row of the logits, and follow the request when vLLM moves it in the batch."""

import math

import pytest
import torch
from vllm.v1.sample.logits_processor import BatchUpdate, MoveDirectionality

from operators.sampling import MASKED_IDS_ARG, sampling_params
from operators.tag_mask import TagMask


def params(masked: list[int] | None):
    return sampling_params({"max_tokens": 4, **({"extra_args": {MASKED_IDS_ARG: masked}} if masked else {})})


def masked_in(processor: TagMask, rows: int, vocab: int = 8) -> list[set[int]]:
    logits = processor.apply(torch.zeros(rows, vocab))
    return [{i for i in range(vocab) if logits[row, i] == -math.inf} for row in range(rows)]


def test_each_request_masks_its_own_ids_in_its_own_row():
    mask = TagMask(None, torch.device("cpu"), False)
    mask.update_state(BatchUpdate(batch_size=3, removed=[], moved=[],
                                  added=[(0, params([1, 5]), None, []), (1, params(None), None, []), (2, params([7]), None, [])]))
    assert masked_in(mask, 3) == [{1, 5}, set(), {7}]
    assert not mask.is_argmax_invariant(), "greedy decoding must see the mask"


def test_the_mask_follows_a_request_moved_or_swapped_and_leaves_with_it():
    mask = TagMask(None, torch.device("cpu"), False)
    mask.update_state(BatchUpdate(batch_size=3, removed=[], moved=[],
                                  added=[(0, params([1]), None, []), (1, params(None), None, []), (2, params([6]), None, [])]))
    mask.update_state(BatchUpdate(batch_size=2, removed=[0], added=[], moved=[(2, 0, MoveDirectionality.UNIDIRECTIONAL)]))
    assert masked_in(mask, 2) == [{6}, set()]
    mask.update_state(BatchUpdate(batch_size=2, removed=[], added=[], moved=[(0, 1, MoveDirectionality.SWAP)]))
    assert masked_in(mask, 2) == [set(), {6}]
    mask.update_state(BatchUpdate(batch_size=1, removed=[1], added=[], moved=[]))
    assert masked_in(mask, 1) == [set()] and not mask.masked


def test_a_malformed_mask_is_refused_when_the_request_is_made():
    with pytest.raises(ValueError, match=MASKED_IDS_ARG):
        TagMask.validate_params(params(["<s>"]))
    TagMask.validate_params(params([0, 3]))
