"""A schema whose system prompt leaves no room for any input within model.max_model_len
is listed compactly, and refused before the job starts, naming both numbers and the fix,
only when not even its top-level fields leave room."""

import json
import re

import pytest

from jobs.plan.prompt_room import ListedPrompt, check_prompt_room, listed_prompt, system_prompt_for
from jobs.spec import JobSpec, JobSpecError
from operators.render_prompt import render_system_prompt
from schemas.compact_listing import CompactListing
from schemas.record_schema import RecordSchema
from schemas.tool_call import tool_definition
from tests.conftest import job_spec


def system_prompt(description_words: int) -> str:
    tool = tool_definition(name="record", description="word " * description_words, parameters={"type": "object"})
    return render_system_prompt([tool])


def spec(**task) -> JobSpec:
    return JobSpec.model_validate(job_spec(task=task, model={"max_model_len": 1024, "max_tokens": 256}))


def test_a_system_prompt_that_fits_passes(tiny_model):
    check_prompt_room(spec(), system_prompt(10), str(tiny_model))


def test_a_system_prompt_that_fills_the_context_is_refused(tiny_model):
    with pytest.raises(JobSpecError) as refused:
        check_prompt_room(spec(), system_prompt(2000), str(tiny_model))
    message = str(refused.value)
    used = int(re.search(r"takes (\d+) tokens before any input", message).group(1))
    assert used > 1024 - 256 and "more than the 768 that model.max_model_len (1024) less model.max_tokens (256) leaves" in message
    assert message.startswith("task.schema: /: ") and message.endswith("raise model.max_model_len or shorten the schema")


def test_the_limit_is_where_the_prompt_no_longer_fits(tiny_model):
    """Between a prompt that fits and one that does not, the refusal starts once, and from
    then on every longer prompt is refused too."""
    refused = []
    for words in range(0, 1200, 100):
        try:
            check_prompt_room(spec(), system_prompt(words), str(tiny_model))
            refused.append(False)
        except JobSpecError:
            refused.append(True)
    assert refused[0] is False and refused[-1] is True and refused == sorted(refused)


def test_without_a_tool_or_a_local_tokenizer_nothing_is_counted(tiny_model, tmp_path):
    summary_only = spec(mode="summarize", schema=None, tool_name=None, tool_description=None, response_column="details",
                        prompt="Summarize the order of {customer}.")
    check_prompt_room(summary_only, system_prompt(2000), str(tiny_model))  # no tool listed: no schema to refuse
    check_prompt_room(spec(), system_prompt(2000), "LLM360/K2-Chat")  # a hub id: not counted here (each row is still checked)
    check_prompt_room(spec(), system_prompt(2000), str(tmp_path))  # a folder without tokenizer.json


def schema_with_descriptions(words: int, fields: int = 4) -> RecordSchema:
    described = {f"field_{i}": {"type": "string", "title": f"Field {i}", "description": "detail " * words,
                                "examples": ["an example value"]} for i in range(fields)}
    return RecordSchema(json_schema={"type": "object", "description": "The record.", "properties": described,
                                     "required": list(described)}, source="test")


def test_a_schema_whose_full_listing_does_not_fit_is_listed_compactly(tiny_model):
    """The fullest compact listing that leaves room: the outermost description kept, the
    structure whole, and the words of what it left out."""
    schema = schema_with_descriptions(words=150)
    with pytest.raises(JobSpecError):
        check_prompt_room(spec(), system_prompt_for(spec(), schema), str(tiny_model))
    listed = listed_prompt(spec(), schema, str(tiny_model))
    check_prompt_room(spec(), listed.system_prompt, str(tiny_model))
    tool = json.loads(re.search(r"<tools> (.*) </tools>", listed.system_prompt).group(1))
    parameters = tool["parameters"]
    assert parameters["description"] == "The record." and parameters["required"] == [f"field_{i}" for i in range(4)]
    assert all(field["type"] == "string" and "title" not in field and "examples" not in field
               for field in parameters["properties"].values())
    kept = sum("description" in field for field in parameters["properties"].values())
    assert kept < 4 and listed.left_out.endswith(f"{4 - kept} of 5 descriptions (innermost first)")


def test_a_schema_that_fits_is_listed_in_full(tiny_model):
    schema = schema_with_descriptions(words=1, fields=1)
    listed = listed_prompt(spec(), schema, str(tiny_model))
    assert listed == ListedPrompt(system_prompt_for(spec(), schema)) and listed.left_out is None


def test_a_deep_schema_whose_bare_structure_does_not_fit_is_outlined(tiny_model):
    """Each top-level field holds a deep object: the listing keeps the levels that fit and
    cuts the subschemas below them to their types."""
    def nested(level: int) -> dict:
        if level == 0:
            return {"type": "string"}
        return {"type": "object", "properties": {f"inner_field_number_{i}": nested(level - 1) for i in range(4)}}

    schema = RecordSchema(json_schema={"type": "object", "properties": {f"top_{i}": nested(3) for i in range(4)}},
                          source="test")
    job = JobSpec.model_validate(job_spec(model={"max_model_len": 4096, "max_tokens": 512}))
    listed = listed_prompt(job, schema, str(tiny_model))
    check_prompt_room(job, listed.system_prompt, str(tiny_model))
    parameters = json.loads(re.search(r"<tools> (.*) </tools>", listed.system_prompt).group(1))["parameters"]
    assert sorted(parameters["properties"]) == [f"top_{i}" for i in range(4)]
    assert "the structure below its first" in listed.left_out and "by its type alone" in listed.left_out
    with pytest.raises(JobSpecError):  # what it cut did not fit
        check_prompt_room(job, system_prompt_for(job, schema, parameters=CompactListing(
            schema.listing_parameters).form(descriptions=0, assertions=False), minified=True), str(tiny_model))

    def depth(node) -> int:
        return 1 + max((depth(child) for child in node.get("properties", {}).values()), default=0)

    assert 2 <= depth(parameters) < depth(schema.json_schema)  # some levels kept, the deepest cut


def test_a_schema_whose_top_level_fields_do_not_fit_is_refused_saying_so(tiny_model):
    schema = schema_with_descriptions(words=5, fields=400)
    with pytest.raises(JobSpecError) as refused:
        listed_prompt(spec(), schema, str(tiny_model))
    assert "before any input even with the tool listed as its top-level fields and their types alone" in str(refused.value)
