"""The tool and its schema are in every prompt: room for input within `model.max_model_len`.

When the full listing of the tool (the system prompt) leaves no room, the tool is listed
in a compact form (schemas/compact_listing.py: minified, each shared definition once,
descriptions kept only where room allows, outermost first; then the structure cut below
some depth): the constraint holds the answer to the schema's structure either way. A
schema whose top-level fields alone leave no room is refused before the job starts,
instead of every row becoming a `prompt_too_long` reject.

Counted with the model folder's `tokenizer.json` through the `tokenizers` library: a
tenth of a second, where loading the transformers tokenizer takes seconds `validate`
should not spend. The count is the prompt's text with its tags as single tokens, as the
prepare stage renders it, give or take a token at piece boundaries: the stage still
checks each row exactly. A model given as a hub id is not counted here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jobs.spec import JobSpec, JobSpecError
from operators.prepare_prompts import first_attempt_prime
from operators.render_prompt import Turn, render, render_system_prompt, to_text
from schemas.compact_listing import CompactListing, fit
from schemas.record_schema import RecordSchema
from schemas.tool_call import tool_definition


@dataclass(frozen=True)
class ListedPrompt:
    """The system prompt a job runs with and, when its tool is listed compactly, what
    that listing leaves out (None: the full listing)."""

    system_prompt: str
    left_out: str | None = None


def system_prompt_for(spec: JobSpec, record_schema: RecordSchema, *, parameters=None, minified: bool = False) -> str:
    """The system prompt with the job's tool listed (none for a standalone summary);
    `parameters`: a compact form of the tool's parameters instead of the full ones."""
    task = spec.task
    if not task.tool_name:
        return render_system_prompt([], task.system_prompt)
    tool = tool_definition(name=task.tool_name, description=task.tool_description,
                           parameters=record_schema.tool_parameters if parameters is None else parameters)
    return render_system_prompt([tool], task.system_prompt, minified=minified)


def listed_prompt(spec: JobSpec, record_schema: RecordSchema, model_source: str) -> ListedPrompt:
    """The full listing where it leaves room for input, else the fullest compact one that
    does; JobSpecError when not even the outline of its top-level fields does."""
    full = system_prompt_for(spec, record_schema)
    count = _counter(model_source)
    if not spec.task.tool_name or count is None or _used(spec, full, count) <= _room(spec):
        return ListedPrompt(full)

    def compact(parameters) -> str:
        return system_prompt_for(spec, record_schema, parameters=parameters, minified=True)

    listing = fit(record_schema.listing_parameters, lambda parameters: _used(spec, compact(parameters), count) <= _room(spec))
    if listing is None:
        smallest = compact(CompactListing(record_schema.listing_parameters).outline(1))
        _refuse(spec, _used(spec, smallest, count), compacted=True)
    return ListedPrompt(compact(listing.parameters), listing.left_out)


def check_prompt_room(spec: JobSpec, system_prompt: str, model_source: str) -> None:
    """JobSpecError when `system_prompt` leaves no room for input."""
    count = _counter(model_source)
    if not spec.task.tool_name or count is None:
        return
    if (used := _used(spec, system_prompt, count)) > _room(spec):
        _refuse(spec, used, compacted=False)


def _room(spec: JobSpec) -> int:
    return spec.model.max_model_len - spec.model.max_tokens


def _used(spec: JobSpec, system_prompt: str, count: Callable[[str], int]) -> int:
    return count(to_text(render(system_prompt, [Turn("user", "")], prime=first_attempt_prime(spec.task.prime_tool_call))))


def _counter(model_source: str) -> Callable[[str], int] | None:
    vocabulary = Path(model_source) / "tokenizer.json"
    # the file's change time in the key: a model folder written anew at the same path
    return _tokens_of(str(vocabulary), vocabulary.stat().st_mtime_ns) if vocabulary.exists() else None


@lru_cache(maxsize=4)
def _tokens_of(vocabulary: str, changed: int) -> Callable[[str], int]:
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(vocabulary)
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _refuse(spec: JobSpec, used: int, *, compacted: bool) -> None:
    model = spec.model
    form = " even with the tool listed as its top-level fields and their types alone" if compacted else ""
    raise JobSpecError(
        f"task.schema: /: the system prompt, which lists the tool with this schema, takes {used} tokens before any "
        f"input{form}, more than the {model.max_model_len - model.max_tokens} that model.max_model_len "
        f"({model.max_model_len}) less model.max_tokens ({model.max_tokens}) leaves; raise model.max_model_len or "
        "shorten the schema")
