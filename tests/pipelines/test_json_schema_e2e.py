"""JSON Schemas a user brings, end to end on the real engine (tiny model): a union of
objects, a map, a recursive schema, a non-object root and a draft-07 `definitions`
schema. Every record the engine's answers gave must pass an independent jsonschema
check (format checking on), be written by the real writer, committed as a run commits
a unit, and read back by `read_records` (from the folder, and from S3) as the JSON value
the engine answered.

One engine start: the notebook API's warm engine answers the five schemas in turn
(preview's path: the prepare stage, the engine, the re-ask loop), and the real writer
writes what it answered; the same engine then answers a repeated prompt with
`task.dedup: true` at a temperature above 0, where dedup is off by default.
(A whole run's output folder, read back with `read_records`, is checked by
tests/pipelines/test_extract_e2e.py.)
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


def spec_for(name: str, schema_path: Path, data: Path, tiny_model: Path, out: Path, *, task: dict = {}, model: dict = {}):
    from jobs.spec import JobSpec

    return JobSpec.model_validate(job_spec(
        name=name, input={"uri": str(data), "id_column": "doc_id"},
        task={"schema": str(schema_path), "tool_name": f"record_{name}", "tool_description": "Record what the text says.",
              "prompt": "Record what this text says:\n\n{text}", **task},
        model={"source": str(tiny_model), "max_model_len": 2048, "max_tokens": 192, **model},
        output={"uri": str(out), "max_reject_rate": 1.0},
    ))


def answer(resolved, plan, rows):
    """The warm engine's answers to `rows` with `plan`'s task."""
    import ray

    from jobs.notebook import warm_engine
    from pipelines.registry import MODES

    engine = warm_engine(plan)
    ray.get(engine.configure.remote(plan.task))
    return ray.get(engine.answer.remote(MODES[plan.mode].prepare(plan)(rows)))


@pytest.fixture(scope="module")
def answered(tmp_path_factory, tiny_model):
    """Each schema's rows answered by one warm engine, written by the real writer and
    committed as a run's unit to the output folder root/NAME: {name: (spec, resolved
    job, answered rows, committed records)}; and, under "dedup", the answers to a
    repeated prompt."""
    import ray
    import xgrammar  # noqa: F401 - imported once here, every constraint check's forked child has it

    from jobs.driver.commit import UnitCommitter, commit_as_written
    from jobs.driver.ray_session import connect_ray
    from jobs.driver.summary import provenance
    from jobs.notebook import first_rows, release_engine
    from jobs.plan.settings_from_spec import flow_plan
    from jobs.plan.resolve import resolve_job
    from jobs.storage.committed import read_committed
    from jobs.storage.filesystem import filesystem_for
    from jobs.storage.output_store import OutputStore
    from operators.write_parquet import WriteUnitFiles
    from operators.written_file import WrittenFile

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
            rows = answer(resolved, plan, first_rows(resolved, len(TEXTS)))
            store = OutputStore(*filesystem_for(spec.output.uri, {}))
            writer = WriteUnitFiles(filesystem=store.fs, staging_dir=store.new_staging_dir(), id_field=resolved.id_field,
                                    record_schema=resolved.record_schema, metadata=provenance(resolved))
            commit_as_written(WrittenFile.from_table(writer(rows)),
                              UnitCommitter(store, resolved.units, resolved.fingerprints["job"]))
            results[name] = (spec, resolved, rows, read_committed(spec.output.uri, "records"))
        results["dedup"] = answer_repeated_prompt(root, tiny_model)
    finally:
        release_engine()
    yield results
    ray.shutdown()


REPEATED = [TEXTS[1], TEXTS[1], TEXTS[0]]


def answer_repeated_prompt(root: Path, tiny_model: Path):
    """`task.dedup: true` at temperature 0.8 (dedup is on by default only at temperature 0)."""
    from jobs.notebook import first_rows
    from jobs.plan.resolve import resolve_job
    from jobs.plan.settings_from_spec import flow_plan

    data = root / "repeated"
    data.mkdir()
    pq.write_table(pa.table({"doc_id": ["r0", "r1", "r2"], "text": REPEATED}), data / "part-0.parquet")
    spec = spec_for("map", root / "map.json", data, tiny_model, root / "dedup", task={"dedup": True},
                    model={"temperature": 0.8})
    resolved = resolve_job(spec)
    plan = flow_plan(resolved, units=resolved.units, use_gpus=False)
    assert plan.task.dedup and plan.task.sampling.temperature == 0.8
    return answer(resolved, plan, first_rows(resolved, len(REPEATED)))


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


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_read_records_gives_each_committed_record_as_the_json_value_answered(answered, name):
    """JSON columns decoded, maps as objects, a wrapped root unwrapped: the records are
    the values the engine answered, read from the output folder alone."""
    from jobs.notebook import read_records

    spec, resolved, rows, _ = answered[name]
    records = rows.dropna(subset=["_record_json"])
    answers = {row_id: json.loads(record) for row_id, record in zip(records["doc_id"], records["_record_json"])}
    expected = {row_id: value["value"] if resolved.record_schema.wrapped else value for row_id, value in answers.items()}
    assert expected and read_records(spec.output.uri) == expected


def test_read_records_reads_the_same_records_from_s3(answered, tmp_path):
    from jobs.notebook import read_records
    from tests.s3_server import TEST_KEY, TEST_SECRET, MotoS3

    server = MotoS3()
    try:
        client = server.client()
        client.create_bucket(Bucket="json-schema-outputs")
        options = {"endpoint_url": server.endpoint_url, "key": TEST_KEY, "secret": TEST_SECRET}
        for name in SCHEMAS:
            out = Path(answered[name][0].output.uri)
            for path in out.rglob("*"):
                if path.is_file():
                    client.upload_file(str(path), "json-schema-outputs", f"{name}/{path.relative_to(out)}")
            assert read_records(f"s3://json-schema-outputs/{name}", options) == read_records(str(out)), name
    finally:
        server.stop()


def test_dedup_on_answers_a_repeated_prompt_once_at_a_temperature_above_0(answered):
    rows = answered["dedup"].set_index("doc_id")
    pair = rows.loc[["r0", "r1"]]
    assert not rows.loc["r2", "_deduplicated"] and pair["_deduplicated"].sum() == 1
    copied, generated = pair[pair["_deduplicated"]].iloc[0], pair[~pair["_deduplicated"]].iloc[0]
    assert copied["_completion_tokens"] == 0 < generated["_completion_tokens"]
    assert [copied[c] for c in ("_record_json", "error", "_attempts")] == [generated[c] for c in ("_record_json", "error", "_attempts")]
