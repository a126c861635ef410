"""Ray Data stage for a standalone summary (`task.response_column`): the row's prompt,
then the column's JSON as a `tool_response` turn, opened for a plain-text answer.

Blank prompt columns and overflow are judged by PreparePrompts, as in extraction; a
value that is not JSON becomes an `invalid_json` reject naming the row, without
reaching the engine.
"""

import numpy as np
import pandas as pd

from operators.outcome import Failure
from operators.prepare_prompts import PreparePrompts
from operators.engine_settings import PromptSettings
from operators.render_prompt import render_within
from operators.summarize_turn import response_json, standalone_turns
from operators.tokenizer import load_tokenizer

ADDS = ("_response_json",)  # besides PreparePrompts.ADDS


class PrepareSummaryPrompts:
    """Reads what PreparePrompts reads plus `response_column`; adds its columns and `ADDS`."""

    def __init__(self, *, response_column: str, prompts: PromptSettings):
        self.response_column = response_column
        self.prompts = PreparePrompts.from_settings(prompts)  # prime "": the answer is plain text

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if self.response_column not in batch.columns:
            raise KeyError(f"prepare_summary_prompts: input batch lacks column {self.response_column!r}")
        out = self.prompts(batch)
        tokenizer = load_tokenizer(self.prompts.tokenizer_source, self.prompts.tokenizer_revision)
        rows = zip(out[self.prompts.id_column], batch[self.response_column], out["_user_text"], out["_reject_reason"])
        prepared = [self._prepare(row_id, value, user_text, rejected, tokenizer) for row_id, value, user_text, rejected in rows]
        out["_response_json"] = [p[0] for p in prepared]
        out["_prompt_ids"] = [np.asarray(p[1], dtype=np.int32) if p[0] else ids for p, ids in zip(prepared, out["_prompt_ids"])]
        for column, index in (("_reject_reason", 0), ("_reject_message", 1)):
            # object dtype: a row without a reject keeps None (a string column would make it NaN)
            out[column] = pd.Series([(p[2].reason, p[2].message)[index] if p[2] else old
                                     for p, old in zip(prepared, out[column])], index=out.index, dtype=object)
        return out

    def _prepare(self, row_id, value, user_text: str, rejected, tokenizer) -> tuple[str | None, list[int], Failure | None]:
        """(response JSON, prompt ids, failure); a row PreparePrompts rejected stays as it is."""
        if rejected:
            return None, [], None
        text = response_json(value, column=self.response_column, row_id=row_id)
        if isinstance(text, Failure):
            return None, [], text
        ids, fits = render_within(self.prompts.system_prompt, standalone_turns(user_text, text), prime="",
                                  tokenizer=tokenizer, budget=self.prompts.prompt_budget)
        if not fits:
            return None, [], Failure(
                "prompt_too_long",
                f"the prompt with {self.response_column!r} is {len(ids)} tokens; max_model_len - max_tokens allows "
                f"{self.prompts.prompt_budget}",
            )
        return text, ids, None
