"""The tool the system prompt lists and the constraint of a call to it: the name fixed to
the tool, the arguments held to the record schema, whose `$defs` still resolve."""

import copy
import json

from jsonschema import Draft202012Validator

from schemas.tool_call import tool_call_json_schema, tool_definition

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "where": {"$ref": "#/$defs/Place"}},
    "required": ["city"],
    "$defs": {"Place": {"type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}},
}


def test_the_tool_is_listed_as_the_card_describes_one():
    tool = tool_definition(name="record_city", description="Record the city.", parameters=PARAMETERS)
    assert list(tool) == ["name", "description", "parameters"]
    assert json.loads(json.dumps(tool)) == {"name": "record_city", "description": "Record the city.", "parameters": PARAMETERS}


def test_a_call_to_the_tool_with_valid_arguments_is_valid():
    validator = Draft202012Validator(tool_call_json_schema(name="record_city", parameters=PARAMETERS))
    assert validator.is_valid({"name": "record_city", "arguments": {"city": "Oslo", "where": {"country": "Norway"}}})


def test_the_name_is_fixed_and_nothing_else_is_allowed():
    validator = Draft202012Validator(tool_call_json_schema(name="record_city", parameters=PARAMETERS))
    assert not validator.is_valid({"name": "other_tool", "arguments": {"city": "Oslo"}})
    assert not validator.is_valid({"arguments": {"city": "Oslo"}})
    assert not validator.is_valid({"name": "record_city"})
    assert not validator.is_valid({"name": "record_city", "arguments": {"city": "Oslo"}, "extra": 1})


def test_the_record_schemas_definitions_resolve_from_the_call():
    given = copy.deepcopy(PARAMETERS)
    schema = tool_call_json_schema(name="record_city", parameters=given)
    assert "$defs" not in schema["properties"]["arguments"] and schema["$defs"] == PARAMETERS["$defs"]
    validator = Draft202012Validator(schema)
    assert not validator.is_valid({"name": "record_city", "arguments": {"city": "Oslo", "where": {"country": 47}}})
    assert given == PARAMETERS, "the record schema given is not changed"


def test_the_name_comes_first_so_the_model_commits_to_the_tool_before_its_arguments():
    schema = tool_call_json_schema(name="record_city", parameters={"type": "object"})
    assert list(schema["properties"]) == ["name", "arguments"] and schema["required"] == ["name", "arguments"]
    assert "$defs" not in schema, "no definitions, no $defs"
