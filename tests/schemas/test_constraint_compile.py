"""The constraint compile in its child process: a keyword the backend cannot compile is
left to validation when validation enforces it, anything else is refused at the JSON
pointer of its construct in the user's schema."""

import pytest

from schemas.constraint_compile import MAX_JSON_NESTING, compile_constraint, compile_record_constraint
from schemas.record_schema import RecordSchema
from schemas.schema_error import UnsupportedSchemaError


@pytest.fixture(scope="module", autouse=True)
def xgrammar_imported():
    import xgrammar  # noqa: F401 - each compile's forked child then has it (3 s each otherwise)


def test_a_pattern_the_backend_cannot_parse_is_left_to_validation():
    schema = RecordSchema(json_schema={"type": "object", "required": ["code", "word"], "properties": {
        "code": {"type": "string", "pattern": "(?<=x)y"}, "word": {"type": "string", "pattern": "^[a-z]+$"}}}, source="inline")
    checked = compile_record_constraint(schema, tool_name="record")
    assert checked.grammar_omits == ("/properties/code/pattern",)
    assert "pattern" not in checked.constraint_parameters["properties"]["code"]
    assert checked.constraint_parameters["properties"]["word"]["pattern"] == "^[a-z]+$", "what compiles stays"
    assert checked.validate({"code": "y", "word": "ab"})[1] == "code: 'y' does not match '(?<=x)y'"


def test_a_construct_the_backend_cannot_compile_is_refused_at_its_pointer_in_the_users_schema():
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/deep"}},
              "$defs": {"deep": {"type": "array", "minItems": 3, "maxItems": 1}}}
    with pytest.raises(UnsupportedSchemaError) as refused:
        compile_record_constraint(RecordSchema(json_schema=schema, source="inline"), tool_name="record")
    assert refused.value.pointer == "/$defs/deep/minItems", "the definition where the user wrote it, not its bundled copy"
    assert refused.value.what.startswith("the structured-output backend (xgrammar) cannot compile it: minItems is greater")


def test_a_constraint_nested_deeper_than_vllm_accepts_is_refused_before_any_compile():
    deep: dict = {"type": "string"}
    for _ in range(MAX_JSON_NESTING):
        deep = {"type": "object", "properties": {"a": deep}}
    with pytest.raises(UnsupportedSchemaError, match=f"nested deeper than the {MAX_JSON_NESTING} levels") as refused:
        compile_record_constraint(RecordSchema(json_schema=deep, source="inline"), tool_name="record")
    assert refused.value.pointer.startswith("/properties/a/properties/a/")


def test_a_finished_constraint_compiles_or_is_refused_without_a_pointer():
    compile_constraint({"type": "object", "properties": {"n": {"type": "integer"}}})
    with pytest.raises(UnsupportedSchemaError, match="^/: the structured-output backend .* cannot compile it: Invalid range"):
        compile_constraint({"type": "integer", "minimum": 5, "maximum": 1})


def test_a_constraint_compiled_once_is_not_compiled_again_and_a_refusal_is_never_kept(tmp_path, monkeypatch):
    import schemas.compiled_constraints as cache
    import schemas.constraint_compile as compile_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    compiles = []
    in_child = compile_module._in_child
    monkeypatch.setattr(compile_module, "_in_child", lambda *args: compiles.append(args) or in_child(*args))
    schema = RecordSchema(json_schema={"type": "object", "properties": {"n": {"type": "integer"}}}, source="inline")
    assert compile_record_constraint(schema, tool_name="record") == schema
    assert compile_record_constraint(schema, tool_name="record") == schema
    assert len(compiles) == 1, "the second run of the same schema starts no compile"
    assert len(list((tmp_path / "k2batch" / "compiled-constraints").iterdir())) == 1

    compile_record_constraint(schema, tool_name="other_tool")
    monkeypatch.setattr(cache, "version", lambda package: "another xgrammar")
    compile_record_constraint(schema, tool_name="record")
    assert len(compiles) == 3, "another tool name or xgrammar version is compiled anew"

    refused = RecordSchema(json_schema={"type": "object", "properties": {
        "n": {"type": "array", "minItems": 3, "maxItems": 1}}}, source="inline")
    for _ in range(2):
        with pytest.raises(UnsupportedSchemaError, match="minItems is greater"):
            compile_record_constraint(refused, tool_name="record")
    assert len(compiles) == 5, "a refusal is compiled, and refused, every time"
