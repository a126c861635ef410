"""The job's side of the constraint compile: a schema the backend cannot compile is one
refusal line on `task.schema` naming the JSON pointer of the construct (the compile
itself: tests/schemas/test_constraint_compile.py)."""

import pytest

from jobs.plan.constraint import check_constraint
from jobs.spec import JobSpecError
from schemas.record_schema import RecordSchema


@pytest.fixture(scope="module", autouse=True)
def xgrammar_imported():
    import xgrammar  # noqa: F401 - each compile's forked child then has it (3 s each otherwise)


def test_a_schema_that_compiles_comes_back_with_what_was_left_to_validation():
    schema = RecordSchema(json_schema={"type": "object", "properties": {"code": {"type": "string", "pattern": "(?<=x)y"}}},
                          source="inline")
    assert check_constraint(schema, tool_name="record").grammar_omits == ("/properties/code/pattern",)


@pytest.mark.parametrize(("schema", "refusal"), [
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}},
     "task.schema: /properties/n/minimum: the structured-output backend (xgrammar) cannot compile it: Invalid range"),
    ({"type": "object", "properties": {"n": {"$ref": "#/$defs/deep"}}, "$defs": {"deep": {"type": "array", "minItems": 3,
                                                                                       "maxItems": 1}}},
     "task.schema: /$defs/deep/minItems: the structured-output backend (xgrammar) cannot compile it: minItems is greater"),
])
def test_a_schema_the_backend_cannot_compile_is_refused_at_its_pointer(schema, refusal):
    with pytest.raises(JobSpecError) as refused:
        check_constraint(RecordSchema(json_schema=schema, source="inline"), tool_name="record")
    assert str(refused.value).startswith(refusal) and "\n" not in str(refused.value)
