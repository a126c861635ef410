"""`k2batch validate`: every spec mistake is one clear line naming the field, exit 2,
found before any Ray worker or engine starts."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import job_spec, run_cli, write_job


@pytest.fixture
def base(tmp_path, tiny_model, news_data):
    return dict(input={"uri": str(news_data)}, model={"source": str(tiny_model)}, output={"uri": str(tmp_path / "out")})


def check(tmp_path, spec) -> tuple[int, str]:
    result = run_cli("validate", str(write_job(tmp_path, spec)), timeout=120)
    assert "Ray" not in result.stderr and "vLLM" not in result.stderr, "validate must not start Ray or an engine"
    return result.returncode, result.stderr.strip()


def test_the_example_spec_validates(tmp_path, base):
    result = run_cli("validate", str(write_job(tmp_path, job_spec(**base))))
    assert result.returncode == 0, result.stderr
    assert "3 input file(s), 24 rows" in result.stdout


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (dict(task={"promt": "x"}), "task.promt: Extra inputs are not permitted"),
        (dict(model={"tensor_parallel_size": 0}), "model.tensor_parallel_size: Input should be greater than or equal to 1"),
        (dict(task={"prompt": "Summarize {bodyy}"}), "task.prompt: column(s) ['bodyy'] are not in the input"),
        (dict(input={"id_column": "id"}), "input.id_column: column(s) ['id'] are not in the input"),
        (dict(task={"schema": "schemas.examples.news:Nope"}), "task.schema: 'schemas.examples.news:Nope' is not a pydantic model class"),
        (dict(task={"schema": "schemas.missing:Model"}), "task.schema: cannot import 'schemas.missing'"),
        (dict(task={"schema": "subprocess:Popen"}), "task.schema: module 'subprocess' is not allowed"),
        (dict(model={"source": "./models/does-not-exist"}), "model.source: no model folder at ./models/does-not-exist"),
    ],
    ids=["unknown-key", "bad-value", "missing-column", "missing-id-column", "no-such-class", "no-such-module",
         "untrusted-module", "missing-model"],
)
def test_spec_errors_name_the_field(tmp_path, base, change, expected):
    spec = job_spec(**base)
    for section, values in change.items():
        spec[section] = {**spec[section], **values}
    code, message = check(tmp_path, spec)
    assert code == 2
    assert message.startswith("k2batch: error:") and expected in message
    assert len(message.splitlines()) == 1


def test_a_schema_the_decoder_cannot_compile_is_refused(tmp_path, base):
    schema_path = tmp_path / "impossible.json"
    schema_path.write_text(json.dumps({
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}, "required": ["n"],
    }))
    spec = job_spec(**base)
    spec["task"]["schema"] = str(schema_path)
    code, message = check(tmp_path, spec)
    assert code == 2
    assert "task.schema: /properties/n/minimum: the structured-output backend (xgrammar) cannot compile it: Invalid range" in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(("schema", "refusal"), [
    ({"type": "object", "properties": {"gone": False, "next": {"$ref": "#"}, "name": {"type": "string"}}}, None),
    ({"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}},
     "task.schema: /properties/a/$ref: remote reference 'https://example.com/a.json': nothing is fetched at run time"),
    # Too large even listed compactly (schemas/compact_listing.py): the names alone fill the prompt.
    ({"type": "object", "properties": {f"a_rather_long_field_name_number_{i}": {"type": "string"} for i in range(400)}},
     "task.schema: /: the system prompt, which lists the tool with this schema, takes"),
], ids=["boolean-and-recursive", "remote-reference", "no-room-for-input"])
def test_any_schema_gets_a_spec_answer_never_a_crash(tmp_path, base, schema, refusal):
    """A `false` property and a recursive reference once crashed validate (TypeError,
    RecursionError, exit 4); a remote reference is refused before anything is fetched;
    a schema that fills the prompt even listed compactly is refused, not turned into a reject per
    row."""
    schema_path = tmp_path / "user.json"
    schema_path.write_text(json.dumps(schema))
    spec = job_spec(**base)
    spec["task"]["schema"] = str(schema_path)
    code, message = check(tmp_path, spec)
    if refusal is None:
        assert code == 0, message
    else:
        assert code == 2 and refusal in message and len(message.splitlines()) == 1, message


def test_duplicate_ids_are_named_before_anything_runs(tmp_path, base, news_data):
    pq.write_table(pa.table({"doc_id": ["doc-00000", "doc-00001"], "body": ["a", "b"]}), news_data / "extra.parquet")
    code, message = check(tmp_path, job_spec(**base))
    assert code == 2
    assert "input.id_column: 2 duplicate doc_id value(s), e.g. doc-00000, doc-00001" in message


def test_set_overrides_are_validated_like_the_file(tmp_path, base):
    path = write_job(tmp_path, job_spec(**base))
    result = run_cli("validate", str(path), "--set", "model.tensor_parallel_size=0", timeout=120)
    assert result.returncode == 2
    assert "model.tensor_parallel_size: Input should be greater than or equal to 1" in result.stderr
    result = run_cli("validate", str(path), "--set", "model.tensor_parallel_size=2", timeout=120)
    assert result.returncode == 0, result.stderr
