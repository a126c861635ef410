"""The job's side of the constraint compile: a schema the backend cannot compile is one
refusal line on `task.schema` naming the JSON pointer of the construct, before anything
runs (the compile itself: tests/schemas/test_constraint_compile.py)."""

import json

import pytest

from jobs.plan.resolve import resolve_job
from jobs.spec import JobSpec, JobSpecError
from tests.conftest import job_spec


@pytest.fixture(scope="module", autouse=True)
def xgrammar_imported():
    import xgrammar  # noqa: F401 - each compile's forked child then has it (3 s each otherwise)


@pytest.mark.parametrize(("schema", "refusal"), [
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}},
     "task.schema: /properties/n/minimum: the structured-output backend (xgrammar) cannot compile it: Invalid range"),
    ({"type": "object", "properties": {"n": {"$ref": "#/$defs/deep"}}, "$defs": {"deep": {"type": "array", "minItems": 3,
                                                                                       "maxItems": 1}}},
     "task.schema: /$defs/deep/minItems: the structured-output backend (xgrammar) cannot compile it: minItems is greater"),
])
def test_a_schema_the_backend_cannot_compile_is_refused_at_its_pointer(tmp_path, tiny_model, news_data, schema, refusal):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    spec = JobSpec.model_validate(job_spec(input={"uri": str(news_data)}, model={"source": str(tiny_model)},
                                           task={"schema": str(path)}, output={"uri": str(tmp_path / "out")}))
    with pytest.raises(JobSpecError) as refused:
        resolve_job(spec)
    assert str(refused.value).startswith(refusal) and "\n" not in str(refused.value)
