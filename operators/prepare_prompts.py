"""Ray Data stage: turn input rows into first-attempt prompts, or into rejects that
never reach the engine (blank prompt columns, prompts that cannot fit)."""

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from operators import k2_format as k2
from operators.engine_settings import PromptSettings
from operators.outcome import Failure
from operators.render_prompt import Turn, around_content, content_token_ids, render, render_within
from operators.tokenizer import load_tokenizer

ADDS = ("_user_text", "_prompt_ids", "_truncated", "_reject_reason", "_reject_message")
TRUNCATION_MARK = "\n[...]\n"


def clean_text(value: Any) -> str:
    """Row text as valid UTF-8: lone surrogates (from a broken decode) become U+FFFD;
    numbers and other scalars of a mixed-type column become their text."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_texts(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """A row's prompt columns as valid text, and the columns that are null or blank."""
    texts, blank = {}, []
    for column, value in values.items():
        # None, NaN and pd.NA (what an Arrow-backed column's tolist() gives for a null)
        if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            blank.append(column)
            continue
        texts[column] = clean_text(value)
        if not texts[column].strip():
            blank.append(column)
    return texts, blank


def keep_head_and_tail(text: str, tokenizer, drop_tokens: int) -> str:
    """`text` without `drop_tokens` of its middle tokens: the head and the tail are where
    documents state what they are about and how they end."""
    ids = tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)
    keep = max(len(ids) - drop_tokens - len(tokenizer.encode(TRUNCATION_MARK, add_special_tokens=False)), 0)
    head = keep - keep // 2
    tail = keep // 2
    return tokenizer.decode(ids[:head]) + TRUNCATION_MARK + (tokenizer.decode(ids[-tail:]) if tail else "")


class PreparePrompts:
    """Reads the id column, `_unit` and the prompt template's columns; adds `ADDS`."""

    def __init__(self, *, id_column: str, prompt: str, prompt_columns: list[str], system_prompt: str,
                 prime: str, tokenizer_source: str, tokenizer_revision: str | None,
                 max_model_len: int, max_tokens: int, overflow: str = "reject"):
        self.id_column = id_column
        self.prompt = prompt
        self.prompt_columns = prompt_columns
        self.system_prompt = system_prompt
        self.prime = prime
        self.tokenizer_source = tokenizer_source
        self.tokenizer_revision = tokenizer_revision
        self.prompt_budget = max_model_len - max_tokens
        self.overflow = overflow

    @classmethod
    def from_settings(cls, settings: PromptSettings) -> "PreparePrompts":
        return cls(**vars(settings))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in (self.id_column, "_unit", *self.prompt_columns) if c not in batch.columns]
        if missing:
            raise KeyError(f"prepare_prompts: input batch lacks columns {missing}")
        tokenizer = load_tokenizer(self.tokenizer_source, self.tokenizer_revision)
        columns = [batch[c].tolist() for c in self.prompt_columns]
        results = self.prepare_batch([dict(zip(self.prompt_columns, values)) for values in zip(*columns)], tokenizer)
        return pd.DataFrame({
            self.id_column: batch[self.id_column].to_numpy(), "_unit": batch["_unit"].to_numpy(),
            "_user_text": [r[0] for r in results],
            "_prompt_ids": [np.asarray(r[1], dtype=np.int32) for r in results],
            "_truncated": [r[2] for r in results],
            "_reject_reason": [r[3].reason if r[3] else None for r in results],
            "_reject_message": [r[3].message if r[3] else None for r in results],
        })

    def prepare_batch(self, rows: list[dict[str, Any]], tokenizer) -> list[tuple[str, Any, bool, Failure | None]]:
        """`prepare` for every row, with the rows' texts tokenized in one call and the
        template's ids reused: the same ids as `prepare`, several times faster."""
        before, after = template_ids(tokenizer, self.system_prompt, self.prime)
        cleaned = [clean_texts(row) for row in rows]
        user_texts = {i: self.prompt.format(**texts) for i, (texts, blank) in enumerate(cleaned) if not blank}
        contents = dict(zip(user_texts, content_token_ids(tokenizer, list(user_texts.values()))))
        results = []
        for i, row in enumerate(rows):
            if i not in user_texts:
                results.append(self.prepare(row, tokenizer))  # blank: rejected with its columns named
                continue
            ids = np.concatenate((before, np.asarray(contents[i], dtype=np.int32), after))
            if len(ids) > self.prompt_budget:
                results.append(self.prepare(row, tokenizer))  # truncated or rejected, one row at a time
            else:
                results.append((user_texts[i], ids, False, None))
        return results

    def prepare(self, values: dict[str, Any], tokenizer) -> tuple[str, list[int], bool, Failure | None]:
        """(user text, prompt token ids, truncated, failure) for one row."""
        texts, blank = clean_texts(values)
        if blank:
            return "", [], False, Failure("empty_input", f"prompt column(s) {blank} are null or blank")
        user_text, ids, fits = self._render(texts, tokenizer)
        truncated = False
        if not fits and self.overflow == "truncate":
            longest = max(texts, key=lambda c: len(texts[c]))
            # Cutting tokens out of one column can shift the tokens at the cut: retry a
            # few times, asking for a little more each time.
            for extra in (0, 8, 32):
                texts[longest] = keep_head_and_tail(texts[longest], tokenizer, len(ids) - self.prompt_budget + extra)
                user_text, ids, fits = self._render(texts, tokenizer)
                if fits:
                    break
            truncated = True
        if not fits:
            return user_text, [], False, Failure(
                "prompt_too_long",
                f"the prompt is {len(ids)} tokens; max_model_len - max_tokens allows {self.prompt_budget}",
            )
        return user_text, ids, truncated, None

    def _render(self, texts: dict[str, str], tokenizer) -> tuple[str, list[int], bool]:
        user_text = self.prompt.format(**texts)
        ids, fits = render_within(self.system_prompt, [Turn("user", user_text)], prime=self.prime, tokenizer=tokenizer,
                                  budget=self.prompt_budget)
        return user_text, ids, fits


@lru_cache(maxsize=16)
def template_ids(tokenizer, system_prompt: str, prime: str) -> tuple[np.ndarray, np.ndarray]:
    """The ids every first-attempt prompt starts and ends with, around the user's text."""
    before, after = around_content(render(system_prompt, [Turn("user", "-")], prime=prime), tokenizer)
    return np.asarray(before, dtype=np.int32), np.asarray(after, dtype=np.int32)


def first_attempt_prime(prime_tool_call: bool) -> str:
    return k2.TOOL_CALL_OPEN if prime_tool_call else ""
