"""The answer's grammar, replayed outside the engine: which text of an answer the
grammar forced, and which tokens may close a string value.

The engine decodes under xgrammar (vLLM's `structured_outputs_config`, operators/
engine_settings.py); this compiles the same constraint with the same options and
tokenizer vocabulary, so that confidence (operators/confidence.py) can ask the grammar
what the decoder could and could not choose. Compiling takes milliseconds (the plan
already compiled the same constraint once, under a time limit:
schemas/constraint_compile.py); replaying an answer takes microseconds a token.
"""

import json
from functools import cached_property

import numpy as np

from schemas.compiled_constraints import COMPILE_OPTIONS

QUOTE = b'"'


class GrammarReplay:
    def __init__(self, tokenizer, vocab_size: int, constraint: dict):
        import xgrammar as xgr

        self._xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.grammar = xgr.GrammarCompiler(self.info, max_threads=1).compile_json_schema(
            json.dumps(constraint), **COMPILE_OPTIONS)
        self.vocab_size = vocab_size

    @cached_property
    def token_bytes(self) -> list[bytes]:
        """Each token id's bytes as the decoder writes them (xgrammar's decoded vocabulary)."""
        vocab = list(self.info.decoded_vocab)
        return vocab + [b""] * (self.vocab_size - len(vocab))

    @cached_property
    def _quote_tokens(self) -> np.ndarray:
        return np.array([i for i, piece in enumerate(self.token_bytes) if piece.startswith(QUOTE)], dtype=np.int64)

    def forced_text(self) -> str:
        """The text every answer starts with: what the grammar forces before its first choice."""
        return self._xgr.GrammarMatcher(self.grammar).find_jump_forward_string()

    def forced(self, token_ids: list[int]) -> list[bool] | None:
        """For each token of an answer, whether the grammar forced all of its text (the
        grammar's jump-forward string at that point starts with the token's bytes: any
        other choice would have spelled the same text). None if the grammar refuses the
        answer, i.e. this replay is not the engine's grammar.

        A token that begins the forced string leaves the rest of it forced, so the string
        is asked for again only where a token does not begin what is left of it."""
        matcher = self._xgr.GrammarMatcher(self.grammar, terminate_without_stop_token=True)
        flags, ahead = [], b""
        for token in token_ids:
            if matcher.is_terminated():  # EOS after the JSON: outside every value
                flags.append(False)
                continue
            piece = self.token_bytes[token]
            if not (piece and ahead.startswith(piece)):
                ahead = matcher.find_jump_forward_string().encode()
            forced = bool(ahead) and ahead.startswith(piece)
            flags.append(forced)
            ahead = ahead[len(piece):] if forced else b""
            if not matcher.accept_token(token):
                return None
        return flags

    def closing_tokens(self, text: str) -> list[int]:
        """The tokens the grammar allows after `text` (an answer's start, ending inside a
        string value) that begin with the closing quote: the ways the decoder can end
        the string there. Empty if the grammar refuses `text`."""
        matcher = self._xgr.GrammarMatcher(self.grammar)
        if not matcher.accept_string(text):
            return []
        bitmask = self._xgr.allocate_token_bitmask(1, self.vocab_size)
        matcher.fill_next_token_bitmask(bitmask)
        bits = np.unpackbits(bitmask.numpy().view(np.uint8), bitorder="little")
        candidates = self._quote_tokens[self._quote_tokens < len(bits)]
        return candidates[bits[candidates] == 1].tolist()
