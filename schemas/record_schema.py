"""A record schema: the JSON Schema the model is constrained to, the validator
its answers must pass, and the Arrow schema its records are written with."""

import hashlib
import importlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from schemas.arrow_types import arrow_schema, to_arrow_value

# Modules a job spec may import a schema class from, besides its own
# `task.schema_modules`: nothing in a spec is evaluated as code.
TRUSTED_SCHEMA_PACKAGE = "schemas"


class SchemaLoadError(ValueError):
    """The schema reference in a job spec cannot be loaded."""


class RecordSchema:
    """Either a pydantic model or a JSON Schema document, behind one interface."""

    def __init__(self, *, json_schema: dict[str, Any], model: type[BaseModel] | None = None, source: str):
        self.json_schema = json_schema
        self.model = model
        self.source = source

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> "RecordSchema":
        return cls(json_schema=model.model_json_schema(), model=model, source=f"{model.__module__}:{model.__qualname__}")

    @classmethod
    def from_json_schema_file(cls, path: str | Path) -> "RecordSchema":
        import jsonschema

        try:
            document = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise SchemaLoadError(f"cannot read JSON Schema file {path}: {err}") from err
        try:
            jsonschema.validators.validator_for(document).check_schema(document)
        except jsonschema.SchemaError as err:
            raise SchemaLoadError(f"{path} is not a valid JSON Schema: {err.message}") from err
        return cls(json_schema=document, source=str(path))

    @cached_property
    def arrow_schema(self) -> pa.Schema:
        return arrow_schema(self.json_schema)

    @cached_property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.json_schema, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def _validator(self):
        import jsonschema

        return jsonschema.validators.validator_for(self.json_schema)(self.json_schema)

    def validate(self, arguments: Any) -> tuple[dict[str, Any] | None, str | None]:
        """Return the normalized record, or None and every validation error in one message."""
        if self.model is not None:
            try:
                return self.model.model_validate(arguments).model_dump(mode="json"), None
            except ValidationError as err:
                return None, "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in err.errors()
                )
        errors = sorted(self._validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        if errors:
            return None, "; ".join(
                f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
            )
        return arguments, None

    def to_arrow_row(self, record: dict[str, Any]) -> dict[str, Any]:
        return {f.name: to_arrow_value(record.get(f.name), f.type) for f in self.arrow_schema}


def load_record_schema(reference: str | type[BaseModel], *, allowed_modules: tuple[str, ...] = (), base_dir: Path | None = None) -> RecordSchema:
    """Resolve `module:Class`, a pydantic class, or a path to a `.json` JSON Schema file.

    A `module:Class` is imported only from the `schemas` package or from `allowed_modules`.
    """
    if isinstance(reference, type) and issubclass(reference, BaseModel):
        return RecordSchema.from_model(reference)
    if not isinstance(reference, str):
        raise SchemaLoadError(f"expected 'module:Class' or a JSON Schema path, got {type(reference).__name__}")
    if reference.endswith(".json"):
        path = Path(reference)
        if not path.is_absolute() and base_dir is not None and not path.exists():
            path = base_dir / path
        return RecordSchema.from_json_schema_file(path)
    module_name, sep, class_name = reference.partition(":")
    if not sep or not module_name or not class_name:
        raise SchemaLoadError(f"{reference!r} is neither 'module:Class' nor a path ending in .json")
    trusted = (TRUSTED_SCHEMA_PACKAGE, *allowed_modules)
    if not any(module_name == m or module_name.startswith(m + ".") for m in trusted):
        raise SchemaLoadError(
            f"module {module_name!r} is not allowed: schemas are imported only from the 'schemas' package "
            "or from modules listed in task.schema_modules"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise SchemaLoadError(f"cannot import {module_name!r}: {err}") from err
    model = getattr(module, class_name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SchemaLoadError(f"{reference!r} is not a pydantic model class")
    return RecordSchema.from_model(model)
