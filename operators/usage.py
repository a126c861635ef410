"""Token usage: what a generation, a row, a file, a unit or a run cost the engine."""

from dataclasses import dataclass, fields
from typing import Iterable


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, served by the prefix cache

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.cached_prompt_tokens + other.cached_prompt_tokens)

    @classmethod
    def total(cls, usages: Iterable["Usage"]) -> "Usage":
        return sum(usages, cls())

    def as_dict(self) -> dict[str, int]:
        """The three counts by name, as summary.json and the manifest hold them."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


USAGE_FIELDS = tuple(f.name for f in fields(Usage))
