"""JSON Schemas a user brings, end to end on the real engine (tiny model): a union of
objects, a map, a recursive schema, a non-object root and a draft-07 `definitions`
schema. Every record the engine's answers gave must pass an independent jsonschema
check (format checking on), be written by the real writer, and read back as a JSON
value the schema accepts.

One engine start: the notebook API's warm engine answers the five schemas in turn
(preview's path: the prepare stage, the engine, the re-ask loop), and the real writer
writes what it answered. (A whole run's output folder, read back with `read_records`, is
checked by tests/pipelines/test_extract_e2e.py.)
"""

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import job_spec

pytestmark = pytest.mark.engine

POINT = {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 9},
                                          "y": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["x", "y"]}
SCHEMAS = {
    "union_of_objects": {"type": "object", "required": ["shape"], "properties": {"shape": {"oneOf": [
        {"type": "object", "properties": {"kind": {"const": "circle"}, "radius": {"type": "integer", "maximum": 99}},
         "required": ["kind", "radius"]},
        {"type": "object", "properties": {"kind": {"const": "box"}, "side": {"type": "integer", "maximum": 99},
                                          "label": {"type": "string", "maxLength": 8}}, "required": ["kind", "side"]},
    ]}}},
    "map": {"type": "object", "required": ["counts"], "properties": {"counts": {
        "type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 99}, "maxProperties": 3,
        "propertyNames": {"maxLength": 6}}}},
    "recursive": {"$defs": {"node": {"type": "object", "required": ["label"], "properties": {
        "label": {"type": "string", "maxLength": 6},
        "children": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"},
    "non_object_root": {"type": "array", "maxItems": 3, "items": {"type": "string", "maxLength": 10}},
    "draft07_definitions": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["start", "when"],
        "definitions": {"point": POINT}, "properties": {
            "start": {"$ref": "#/definitions/point"}, "end": {"$ref": "#/properties/start"},
            "when": {"type": "string", "format": "date"}}},
}
TEXTS = ["A circle of radius 3 at 1,2 on 2024-05-01.", "Box side 7, labelled lid; counts a=1 b=2.",
         "Tree: root with kids x and y.", "Words: apple, pear."]


def independent_check(schema: dict, value) -> None:
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(value)


def write_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"doc_id": [f"d{i}" for i in range(len(TEXTS))], "text": TEXTS}), folder / "part-0.parquet")
    return folder


def spec_for(name: str, schema_path: Path, data: Path, tiny_model: Path, out: Path):
    from jobs.spec import JobSpec

    return JobSpec.model_validate(job_spec(
        name=name, input={"uri": str(data), "id_column": "doc_id"},
        task={"schema": str(schema_path), "tool_name": f"record_{name}", "tool_description": "Record what the text says.",
              "prompt": "Record what this text says:\n\n{text}"},
        model={"source": str(tiny_model), "max_model_len": 2048, "max_tokens": 192},
        output={"uri": str(out), "max_reject_rate": 1.0},
    ))


@pytest.fixture(scope="module")
def answered(tmp_path_factory, tiny_model):
    """Each schema's rows answered by one warm engine and written by the real writer:
    {name: (spec, resolved job, answered rows, written table)}."""
    import ray
    import xgrammar  # noqa: F401 - imported once here, every constraint check's forked child has it

    from jobs.driver.ray_session import connect_ray
    from jobs.driver.summary import provenance
    from jobs.notebook import first_rows, release_engine, warm_engine
    from jobs.plan.settings_from_spec import flow_plan
    from jobs.plan.resolve import resolve_job
    from operators.write_parquet import WriteUnitFiles
    from pipelines.registry import MODES

    root = tmp_path_factory.mktemp("json-schemas")
    data = write_input(root / "data")
    results = {}
    try:
        for name, schema in SCHEMAS.items():
            schema_path = root / f"{name}.json"
            schema_path.write_text(json.dumps(schema))
            spec = spec_for(name, schema_path, data, tiny_model, root / name)
            resolved = resolve_job(spec)
            connect_ray(spec)
            plan = flow_plan(resolved, units=resolved.units, use_gpus=False)
            engine = warm_engine(plan)
            ray.get(engine.configure.remote(plan.task))
            rows = ray.get(engine.answer.remote(MODES[plan.mode].prepare(plan)(first_rows(resolved, len(TEXTS)))))
            writer = WriteUnitFiles(filesystem=resolved.input_fs, staging_dir=str(root / name / "files"), id_field=resolved.id_field,
                                    record_schema=resolved.record_schema, metadata=provenance(resolved))
            written = writer(rows).to_pylist()
            records = [pq.read_table(w["path"]) for w in written if w["kind"] == "records"]
            results[name] = (spec, resolved, rows, pa.concat_tables(records) if records else None)
    finally:
        release_engine()
    yield results
    ray.shutdown()


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_engine_answers_are_valid_records_that_read_back_as_json(answered, name):
    spec, resolved, rows, table = answered[name]
    schema = SCHEMAS[name]
    assert len(rows) == len(TEXTS), "every input row answered"
    assert (rows["_reason"].isna() == rows["_record_json"].notna()).all(), "each row is a record or has a reject reason"
    assert set(rows["_reason"].dropna()) <= {"schema_invalid", "truncated", "invalid_json"}, rows["error"].dropna().tolist()
    assert rows["_record_json"].notna().sum() >= 2, f"most answers of the constrained model are records: {rows['error'].tolist()}"
    record_schema = resolved.record_schema
    for record in rows["_record_json"].dropna():
        arguments = json.loads(record)
        independent_check(schema, arguments["value"] if record_schema.wrapped else arguments)
    assert table is not None and table.num_rows == rows["_record_json"].notna().sum()
    assert table.schema.field(record_schema.arrow_schema.names[0]).type == record_schema.arrow_schema.field(0).type
    for row, record in zip(table.select(record_schema.arrow_schema.names).to_pylist(), rows["_record_json"].dropna()):
        value = record_schema.from_arrow_row(row)
        independent_check(schema, value)
        expected = json.loads(record)
        assert value == (expected["value"] if record_schema.wrapped else record_schema.from_arrow_row(record_schema.to_arrow_row(expected)))


def test_column_types_follow_the_mapping_and_a_wrapped_root_says_so(answered):
    types = {name: answered[name][3].schema for name in SCHEMAS}
    assert types["union_of_objects"].field("shape").type == pa.json_()
    assert types["map"].field("counts").type == pa.map_(pa.string(), pa.int64())
    assert types["recursive"].field("children").type == pa.list_(pa.json_())
    assert types["non_object_root"].names[:2] == ["doc_id", "value"]
    assert types["non_object_root"].field("value").type == pa.list_(pa.string())
    assert types["non_object_root"].metadata[b"k2batch.root_column"] == b"value"
    assert b"k2batch.root_column" not in types["map"].metadata
    assert types["draft07_definitions"].field("end").type == pa.struct([pa.field("x", pa.int64(), nullable=False),
                                                                        pa.field("y", pa.int64(), nullable=False)])
