"""The tool and its schema are in every prompt: a schema whose system prompt alone leaves
no room within `model.max_model_len` is refused before the job starts, instead of every
row becoming a `prompt_too_long` reject.

Counted with the model folder's `tokenizer.json` through the `tokenizers` library: a
tenth of a second, where loading the transformers tokenizer takes seconds `validate`
should not spend. The count is the prompt's text with its tags as single tokens, as the
prepare stage renders it, give or take a token at piece boundaries: the stage still
checks each row exactly. A model given as a hub id is not counted here.
"""

from pathlib import Path

from jobs.spec import JobSpec, JobSpecError
from operators.prepare_prompts import first_attempt_prime
from operators.render_prompt import Turn, render, to_text


def check_prompt_room(spec: JobSpec, system_prompt: str, model_source: str) -> None:
    vocabulary = Path(model_source) / "tokenizer.json"
    if not spec.task.tool_name or not vocabulary.exists():
        return
    import tokenizers

    text = to_text(render(system_prompt, [Turn("user", "")], prime=first_attempt_prime(spec.task.prime_tool_call)))
    used = len(tokenizers.Tokenizer.from_file(str(vocabulary)).encode(text, add_special_tokens=False).ids)
    model = spec.model
    room = model.max_model_len - model.max_tokens
    if used > room:
        raise JobSpecError(
            f"task.schema: /: the system prompt, which lists the tool with this schema, takes {used} tokens before any "
            f"input, more than the {room} that model.max_model_len ({model.max_model_len}) less model.max_tokens "
            f"({model.max_tokens}) leaves; raise model.max_model_len or shorten the schema")
