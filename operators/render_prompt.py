"""Render a conversation in K2-Chat's turn format, as text and as token ids.

A rendering is a list of `Piece`s. Template pieces (the system prompt, turn tags) may
contain K2's tags and are tokenized with them as special tokens; content pieces come
from rows or from the model and are tokenized with special-token splitting off, so a
row that contains `<|beginofuser|>` reaches the model as plain text, never as a turn.
"""

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

from operators import k2_format as k2


class Piece(NamedTuple):
    text: str
    template: bool  # True: K2 tags in the text are special tokens; False: plain text


@dataclass(frozen=True)
class Turn:
    """One turn after the system prompt.

    `tool_call` is an assistant answer whose content is the call's JSON text;
    `tool_response` is a user turn that hands a JSON result back to the model.
    """

    role: Literal["user", "assistant", "tool_call", "tool_response"]
    content: str


def render_system_prompt(tools: list[dict], template: str = k2.FUNCTION_CALLING_V1, *, minified: bool = False) -> str:
    """`minified`: the tools' JSON without spaces after separators (a compact listing)."""
    separators = (",", ":") if minified else None
    return template.format(tools=" ".join(json.dumps(tool, ensure_ascii=False, separators=separators) for tool in tools))


def render(system: str | None, turns: list[Turn], *, prime: str = "") -> list[Piece]:
    """The whole prompt, ending with the opened assistant turn plus `prime`
    (`<tool_call>` pushes the model into a call, as the card suggests)."""
    pieces: list[Piece] = []
    if system is not None:
        pieces += [Piece(system, True), Piece(k2.END_OF_SYSTEM_PROMPT, True)]
    for turn in turns:
        pieces += _render_turn(turn)
    pieces.append(Piece(k2.BEGIN_ASSISTANT + prime, True))
    return pieces


def _render_turn(turn: Turn) -> list[Piece]:
    if turn.role == "user":
        return [Piece(k2.BEGIN_USER, True), Piece(turn.content, False)]
    if turn.role == "assistant":
        return [Piece(k2.BEGIN_ASSISTANT, True), Piece(turn.content, False), Piece(k2.EOS, True)]
    if turn.role == "tool_call":
        return [
            Piece(k2.BEGIN_ASSISTANT + k2.TOOL_CALL_OPEN, True),
            Piece(turn.content, False),
            Piece(k2.TOOL_CALL_CLOSE + k2.EOS, True),
        ]
    if turn.role == "tool_response":
        return [
            Piece(k2.BEGIN_USER + k2.TOOL_RESPONSE_OPEN, True),
            Piece(turn.content, False),
            Piece(k2.TOOL_RESPONSE_CLOSE, True),
        ]
    raise ValueError(f"turn role must be user, assistant, tool_call or tool_response, got {turn.role!r}")


def to_text(pieces: list[Piece]) -> str:
    return "".join(piece.text for piece in pieces)


def to_token_ids(pieces: list[Piece], tokenizer) -> list[int]:
    """Token ids for vLLM. Content pieces never produce special-token ids."""
    ids: list[int] = []
    for piece in pieces:
        if not piece.text:
            continue
        if piece.template:
            ids += _template_ids(tokenizer, piece.text)
        else:
            ids += content_token_ids(tokenizer, [piece.text])[0]
    return ids


def content_token_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of row or model text, K2's tags in it spelled out as plain text: what
    `tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)` gives,
    for many texts in one call to the Rust tokenizer (a fraction of the per-call cost),
    without the character offsets nothing here reads."""
    return [encoding.ids for encoding in _content_tokenizer(tokenizer).encode_batch_fast(texts, add_special_tokens=False)]


@lru_cache(maxsize=8)
def _content_tokenizer(tokenizer):
    # A copy of the fast tokenizer's backend that never matches added tokens; flipping
    # the shared one would change what every other caller's encode() does.
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.encode_special_tokens = True
    return backend


@lru_cache(maxsize=256)
def _template_ids(tokenizer, text: str) -> tuple[int, ...]:
    # Template pieces (the ~1,000-token system prompt above all) are the same for every
    # row: tokenizing them once is most of what makes rendering fast (benchmarks/cpu_stages.py).
    return tuple(tokenizer.encode(text, add_special_tokens=False))


def around_content(pieces: list[Piece], tokenizer) -> tuple[list[int], list[int]]:
    """Token ids before and after the one content piece of a rendering: with them a
    batch of rows needs only its own texts tokenized."""
    (index,) = [i for i, piece in enumerate(pieces) if not piece.template]
    return to_token_ids(pieces[:index], tokenizer), to_token_ids(pieces[index + 1:], tokenizer)


def render_within(system: str | None, turns: list[Turn], *, prime: str, tokenizer, budget: int) -> tuple[list[int], bool]:
    """The conversation's token ids and whether they fit `budget` (max_model_len -
    max_tokens): the one place a prompt is rendered, tokenized and checked for room."""
    ids = to_token_ids(render(system, turns, prime=prime), tokenizer)
    return ids, len(ids) <= budget
