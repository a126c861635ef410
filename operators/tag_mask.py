"""K2's tag mask as a vLLM logits processor: the ids a request may never sample (its
`SamplingParams.extra_args[MASKED_IDS_ARG]`, built by operators/sampling.py) set to -inf
in its row of the logits, before sampling, greedy or not, and before the
log-probabilities of `logprobs_mode="processed_logprobs"`.

vLLM's own `allowed_token_ids` gives the same mask, but as the list of every id a
request may sample: for K2's 32,032-token vocabulary each request would carry 32,000
ids, which vLLM deep-copies and checks one by one in the front end, sends to the engine
core and writes into the request's mask row. The masked ids are a handful.

The engine loads this class by name (sampling.TAG_MASK_PROCESSOR, in the engine arguments
of operators/engine_settings.py) in the process that samples. It has the interface of
vLLM's V1 model runner, which k2batch runs on every device (engine_settings.RUNNER_ENVIRONMENT).
"""

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from operators.sampling import MASKED_IDS_ARG


class TagMask(LogitsProcessor):
    def __init__(self, vllm_config, device: torch.device, is_pin_memory: bool):
        self.device = device
        self.masked: dict[int, tuple[int, ...]] = {}  # batch row -> the ids its request masks
        self.rows = self.ids = torch.empty(0, dtype=torch.int64, device=device)

    @classmethod
    def validate_params(cls, sampling_params) -> None:
        masked = (sampling_params.extra_args or {}).get(MASKED_IDS_ARG)
        if masked is not None and not (isinstance(masked, (list, tuple)) and all(isinstance(i, int) and i >= 0 for i in masked)):
            raise ValueError(f"extra_args[{MASKED_IDS_ARG!r}] must be a list of token ids, got {masked!r}")

    def is_argmax_invariant(self) -> bool:
        return False  # a masked id may be the most probable one

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if process_dict_updates(self.masked, batch_update, lambda params, _, __: _masked_ids(params)):
            rows = [row for row, ids in self.masked.items() for _ in ids]
            ids = [i for masked in self.masked.values() for i in masked]
            self.rows = torch.tensor(rows, dtype=torch.int64).to(self.device, non_blocking=True)
            self.ids = torch.tensor(ids, dtype=torch.int64).to(self.device, non_blocking=True)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if self.masked:
            logits[self.rows, self.ids] = float("-inf")
        return logits


def _masked_ids(params) -> tuple[int, ...] | None:
    masked = (params.extra_args or {}).get(MASKED_IDS_ARG)
    return tuple(masked) if masked else None
