"""Ray Data stage: turn input rows into first-attempt prompts, or into rejects that
never reach the engine (blank prompt columns, prompts that cannot fit)."""

from typing import Any

import numpy as np
import pandas as pd

from operators import k2_format as k2
from operators.outcome import Failure
from operators.render_prompt import Turn, render, to_token_ids
from operators.tokenizer import load_tokenizer

ADDS = ("_user_text", "_prompt_ids", "_reject_reason", "_reject_message")


def clean_text(value: Any) -> str:
    """Row text as valid UTF-8: lone surrogates (from a broken decode) become U+FFFD."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode("utf-8")


class PreparePrompts:
    """Reads the id column, `_unit` and the prompt template's columns; adds `ADDS`."""

    def __init__(self, *, id_column: str, prompt: str, prompt_columns: list[str], system_prompt: str,
                 prime: str, tokenizer_source: str, tokenizer_revision: str | None,
                 max_model_len: int, max_tokens: int):
        self.id_column = id_column
        self.prompt = prompt
        self.prompt_columns = prompt_columns
        self.system_prompt = system_prompt
        self.prime = prime
        self.tokenizer_source = tokenizer_source
        self.tokenizer_revision = tokenizer_revision
        self.prompt_budget = max_model_len - max_tokens

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (self.id_column, "_unit", *self.prompt_columns) if c not in batch.columns]
        if missing:
            raise KeyError(f"prepare_prompts: input batch lacks columns {missing}")
        tokenizer = load_tokenizer(self.tokenizer_source, self.tokenizer_revision)
        results = [self._prepare(row, tokenizer) for row in batch[list(self.prompt_columns)].to_dict("records")]
        out = batch[[self.id_column, "_unit"]].copy()
        out["_user_text"] = [r[0] for r in results]
        out["_prompt_ids"] = [np.asarray(r[1], dtype=np.int32) for r in results]
        out["_reject_reason"] = [r[2].reason if r[2] else None for r in results]
        out["_reject_message"] = [r[2].message if r[2] else None for r in results]
        return out

    def _prepare(self, values: dict[str, Any], tokenizer) -> tuple[str, list[int], Failure | None]:
        blank = [c for c, v in values.items() if v is None or (isinstance(v, float) and np.isnan(v)) or not clean_text(v).strip()]
        if blank:
            return "", [], Failure("empty_input", f"prompt column(s) {blank} are null or blank")
        user_text = self.prompt.format(**{c: clean_text(v) for c, v in values.items()})
        ids = to_token_ids(render(self.system_prompt, [Turn("user", user_text)], prime=self.prime), tokenizer)
        if len(ids) > self.prompt_budget:
            return user_text, [], Failure(
                "prompt_too_long",
                f"the prompt is {len(ids)} tokens; max_model_len - max_tokens allows {self.prompt_budget}",
            )
        return user_text, ids, None


def first_attempt_prime(prime_tool_call: bool) -> str:
    return k2.TOOL_CALL_OPEN if prime_tool_call else ""
