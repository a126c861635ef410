"""docs/spec-reference.md is generated from the spec models' field descriptions
(jobs/spec/reference.py): it must be up to date, and every field must have a description."""

from pathlib import Path

from jobs.spec.reference import REGENERATE, spec_models, spec_reference

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_reference_is_up_to_date():
    committed = (ROOT / "docs" / "spec-reference.md").read_text()
    assert committed == spec_reference(), f"docs/spec-reference.md is out of date: regenerate it with `{REGENERATE}`"


def test_every_spec_field_has_a_description():
    missing = [f"{path or 'top level'}: {name}" for path, model, _ in spec_models()
               for name, field in model.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"spec fields without a description (add Field(description=...) in jobs/spec/models.py): {missing}"


def test_every_section_and_field_is_in_the_reference():
    reference = spec_reference()
    models = list(spec_models())
    assert [path for path, _, _ in models] == ["", "input", "task", "model", "model.replicas", "output", "output.table"]
    for path, model, _ in models:
        for name, field in model.model_fields.items():
            key = f"{path}.{field.alias or name}" if path else name
            assert f"| `{key}` |" in reference, key
    assert "| `task.schema` |" in reference  # the YAML key (the alias), not the attribute name
