"""Load a model's tokenizer once per worker process and check it knows K2's tags."""

from functools import lru_cache

from operators import k2_format as k2


class TokenizerError(ValueError):
    """The tokenizer cannot render K2 prompts safely."""


@lru_cache(maxsize=4)
def load_tokenizer(source: str, revision: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    check_k2_tags(tokenizer)
    return tokenizer


def check_k2_tags(tokenizer) -> None:
    """Every K2 tag must be one special token, and plain text must never become one:
    that is what keeps row text from opening a turn."""
    for tag in (*k2.SPECIAL_TAGS, k2.EOS):
        as_template = tokenizer.encode(tag, add_special_tokens=False)
        if len(as_template) != 1:
            raise TokenizerError(f"the tokenizer encodes {tag} as {len(as_template)} tokens, not one: not a K2-Chat tokenizer")
        as_text = tokenizer.encode(tag, add_special_tokens=False, split_special_tokens=True)
        if as_text == as_template:
            raise TokenizerError(f"{tag} is not a special token of this tokenizer, so row text could inject it")
